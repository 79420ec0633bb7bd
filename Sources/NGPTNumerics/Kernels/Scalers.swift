/// How an nGPT scaler (`alpha`, `sqk`, `suv`, `sz`) is parameterised (docs/model.md §8, paper Tables 4–6).
public enum ScalerMode: String, Codable, Sendable, CaseIterable {
    /// One learnable value per dimension (the default).
    case vector
    /// One learnable value shared by all dimensions (stored with shape `[1]`).
    case scalar
    /// No parameter: the effective value is the constant `initValue`.
    case fixed
}

/// One nGPT scaler's parameterisation.
///
/// A learnable scaler is stored as `p`, initialised to `scale`, and used as
/// `p · initValue / scale` (or `|p| · initValue / scale` when `absolute`), so its effective value
/// starts at `initValue` and its effective learning rate is `lr · initValue / scale` (paper §2.5).
public struct ScalerConfig: Codable, Sendable, Equatable {
    public var mode: ScalerMode
    /// `s_init`: the effective value at initialisation (and the constant when `mode == .fixed`).
    public var initValue: Float
    /// `s_scale`: the stored value at initialisation.
    public var scale: Float
    /// Use `|p|` rather than `p` (NVIDIA's choice for `alpha`).
    public var absolute: Bool

    public init(mode: ScalerMode = .vector, initValue: Float, scale: Float, absolute: Bool = false) {
        self.mode = mode
        self.initValue = initValue
        self.scale = scale
        self.absolute = absolute
    }

    /// The factor between stored and effective value, `initValue / scale`.
    public var factor: Float { initValue / scale }
}

/// Effective values of an nGPT scaler (docs/model.md §4): eff[i] = f(p[i or 0]) · s_init/s_scale with
/// f = |·| when `absolute`, or the constant s_init when the scaler is fixed (`param == nil`).
package func scalerForward(_ eff: FloatPointer, _ param: ConstFloatPointer?, _ config: ScalerConfig, count n: Int) {
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
package func scalerBackward(_ dparam: FloatPointer?, _ deff: ConstFloatPointer, _ param: ConstFloatPointer?,
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
