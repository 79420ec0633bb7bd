import NGPT

/// GPT with q/k normalisation (as in OLMo-2 and Gemma 3): the baseline GPT (docs/model.md §3)
/// whose queries and keys are RMS-normalised per head, with a learnable per-dimension gain, before
/// RoPE and the usual 1/√dk softmax scale. Bounded attention logits make it a stronger baseline
/// for nGPT than plain GPT. Everything else is GPT's: pre-RMSNorm blocks, the final RMSNorm
/// (``GPTHead``), the initialisation and the recipe (``TrainingRecipe/gpt``).
///
///     a = RMSNorm(x)⊙g_att; q, k, v = a·Wᵀ
///     q_h, k_h = RMSNorm(q_h)⊙g_h, RMSNorm(k_h)⊙g_h     (= √dk·g_h ⊙ Norm(·), g from qk_gain)
///     q, k = RoPE(q), RoPE(k)
///     x' = x + Attention(q, k, v; scale 1/√dk)·att_c_projᵀ
///     m = RMSNorm(x')⊙g_mlp; u, ν = m·c_fcᵀ
///     out = x' + (u ⊙ SiLU(ν))·mlp_c_projᵀ
///     logits = RMSNorm(x_L)⊙g_f·lm_headᵀ
///
/// The block is the library's ``GPTBlock`` with its q/k normalisation
/// (``GPTBlock/QKNormalization/rms(queryGain:keyGain:)``), the same code the library's
/// `gptQKNormalization` switch runs; only the gain differs. One gain serves q and k, as nGPT's
/// s_qk does; head h owns entries `h·dk..<(h+1)·dk` of `transformer.h.{l}.qk_gain` (d), where the
/// switch has a `q_norm` and a `k_norm` of dk values shared by the heads. The gain starts at 1 and
/// does not decay: like the RMSNorm gains it is a vector, and decay would pull every head toward
/// uniform attention.
public struct QKNormGPT: Architecture {
    public let config: ModelConfig
    public var name: String { "qknorm-gpt" }
    public var recipe: TrainingRecipe { .gpt }

    public init(config: ModelConfig) { self.config = config }

    /// GPT's parameters, each layer's `qk_gain` (d, ones) after its `rmsnorm_mlp`. The gains are
    /// constants, so a seed draws the same matrices as ``GPTArchitecture``.
    public var parameters: [ParameterSpec] {
        GPTArchitecture(config: config).parameters.flatMap { spec -> [ParameterSpec] in
            guard spec.name.hasSuffix(".rmsnorm_mlp.weight") else { return [spec] }
            let gain = String(spec.name.dropLast("rmsnorm_mlp.weight".count)) + "qk_gain"
            return [spec, ParameterSpec(name: gain, shape: [config.width], decays: false, initialization: .constant(1))]
        }
    }

    /// GPT's block, q and k RMS-normalised before RoPE with the layer's `qk_gain` serving both.
    public func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        let gain = layout.vector("transformer.h.\(layer).qk_gain")
        return GPTBlock(layer: layer, config: config, qkNormalization: .rms(queryGain: gain, keyGain: gain), layout: layout,
                        plan: &plan)
    }

    public func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead {
        GPTHead(layout: layout, plan: &plan)
    }
}
