/// Pointers a block needs besides its own activations.
struct BlockContext {
    let config: ModelConfig
    let acts: Activations
    let rope: RoPETable
    let params: FloatPointer
    let grads: FloatPointer
}

/// Offsets of one layer's parameters in the flat buffer; nil for a scaler held fixed.
struct LayerParameterOffsets {
    let qkv: Int        // query | key | value, adjacent: one (3C, C) matrix
    let attProj: Int    // (C, C)
    let fc: Int         // (2F, C)
    let mlpProj: Int    // (C, F)
    let rmsAtt: Int?, rmsMlp: Int?
    let attnAlpha: Int?, mlpAlpha: Int?, sqk: Int?, suv: Int?

    init(layout: ParameterLayout, layer l: Int) {
        let p = "transformer.h.\(l)."
        qkv = layout.offset(p + "query.weight")
        precondition(layout.offset(p + "key.weight") == qkv + layout.entry(p + "query.weight")!.count
                     && layout.offset(p + "value.weight") == layout.offset(p + "key.weight") + layout.entry(p + "key.weight")!.count,
                     "query, key and value must be adjacent in the layout")
        attProj = layout.offset(p + "att_c_proj.weight")
        fc = layout.offset(p + "c_fc.weight")
        mlpProj = layout.offset(p + "mlp_c_proj.weight")
        rmsAtt = layout.optionalOffset(p + "rmsnorm_att.weight")
        rmsMlp = layout.optionalOffset(p + "rmsnorm_mlp.weight")
        attnAlpha = layout.optionalOffset(p + "attn_alpha")
        mlpAlpha = layout.optionalOffset(p + "mlp_alpha")
        sqk = layout.optionalOffset(p + "sqk")
        suv = layout.optionalOffset(p + "suv")
    }
}

/// One transformer layer: forward from the stream `x` into `out`, and backward from the
/// gradient of `out` into (accumulated) the gradient of `x` and of the layer's parameters.
protocol TransformerBlock {
    func forward(_ x: FloatPointer, _ out: FloatPointer, _ a: LayerActivations, _ ctx: BlockContext)
    func backward(_ dout: FloatPointer, _ dx: FloatPointer, _ x: FloatPointer, _ out: FloatPointer,
                  _ a: LayerActivations, _ ctx: BlockContext)
}
