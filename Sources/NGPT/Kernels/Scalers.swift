/// Effective values of an nGPT scaler (spec §4): eff[i] = f(p[i or 0]) · s_init/s_scale with
/// f = |·| when `absolute`, or the constant s_init when the scaler is fixed (`param == nil`).
func scalerForward(_ eff: FloatPointer, _ param: ConstFloatPointer?, _ config: ScalerConfig, count n: Int) {
    guard let param, config.mode != .fixed else {
        eff.update(repeating: config.initValue, count: n)
        return
    }
    let k = config.factor
    for i in 0..<n {
        let p = param[config.mode == .scalar ? 0 : i]
        eff[i] = (config.absolute ? abs(p) : p) * k
    }
}

/// Backward of the effective values: dp += deff · s_init/s_scale · (sign(p) when absolute),
/// summed over all dimensions for a scalar. sign(0) = 0, as the gradient of |p| in PyTorch.
func scalerBackward(_ dparam: FloatPointer?, _ deff: ConstFloatPointer, _ param: ConstFloatPointer?,
                    _ config: ScalerConfig, count n: Int) {
    guard let dparam, let param, config.mode != .fixed else { return }
    let k = config.factor
    func chain(_ p: Float) -> Float {
        guard config.absolute else { return k }
        return p > 0 ? k : (p < 0 ? -k : 0)
    }
    switch config.mode {
    case .vector:
        for i in 0..<n { dparam[i] += deff[i] * chain(param[i]) }
    case .scalar:
        var s: Float = 0
        for i in 0..<n { s += deff[i] }
        dparam[0] += s * chain(param[0])
    case .fixed:
        break
    }
}
