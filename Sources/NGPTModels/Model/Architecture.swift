import NGPTNumerics

/// Everything that makes a model GPT, nGPT or a variant of either: its parameters, its blocks
/// and head, what happens after each optimiser step, what it logs, and how it trains by default.
///
/// ``Transformer`` runs any architecture: it embeds the tokens, runs the blocks, the head and
/// the cross-entropy, forward and backward, for training windows and for decoding with a
/// key/value cache alike. The library ships ``GPTArchitecture`` and ``NGPTArchitecture``;
/// ``ModelConfig/architecture()`` is the one place that maps a configuration's kind to one of them.
/// A variant is a type of its own conforming to this protocol (see the library guide, "Write your
/// own architecture").
public protocol Architecture: Sendable {
    /// The shape (vocabulary, width, heads, layers, context) and switches.
    var config: ModelConfig { get }
    /// A short name, written to checkpoints and reports (`gpt`, `ngpt`, …).
    var name: String { get }
    /// Every parameter in buffer order: `transformer.wte.weight` (V, d) and `lm_head.weight`
    /// (V, d) must be among them (the embedding and the shared cross-entropy read them).
    var parameters: [ParameterSpec] { get }
    /// Layer `layer`'s block, reserving what it keeps for backward in `plan`.
    func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock
    /// The head that turns the last block's output into logits.
    func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead
    /// Runs after every optimiser step and after loading weights from outside a run. The
    /// default keeps every ``ParameterSpec/normalized`` matrix's vectors at unit length (nGPT);
    /// with none, it does nothing (GPT).
    func afterUpdate(_ parameters: ParameterBuffer)
    /// Runs once on freshly initialised parameters (``Transformer/initializeParameters(using:)``).
    /// The default is ``afterUpdate(_:)``; nGPT normalises its matrices here even when it does not
    /// keep them normalised (``ModelConfig/weightNormalization`` false).
    func afterInitialization(_ parameters: ParameterBuffer)
    /// The values the architecture reports per layer, each named and with one value per layer
    /// (nGPT: its scalers' mean |effective value|; by default none). Logged with every step to
    /// `metrics.jsonl`, each under its ``LayerValues/name``, and shown by the inspection. A name
    /// must not be one of the record's own keys (``MetricsRecord/keys``).
    func layerValues(_ parameters: ParameterBuffer) -> [LayerValues]
    /// The effective logit scales s_z (empty when the architecture has none); their mean is
    /// logged as `sz_mean`.
    func logitScales(_ parameters: ParameterBuffer) -> [Float]
    /// The training recipe this architecture uses unless told otherwise.
    var recipe: TrainingRecipe { get }
}

/// One transformer layer, built for one pass shape by ``Architecture/makeBlock(layer:layout:plan:)``.
public protocol TransformerBlock {
    /// The layer's output `out` (N, C) from its input `x` (N, C); keeps what backward needs.
    func forward(_ x: Slot, _ out: Slot, _ pass: Pass)
    /// Accumulates into `dx` the gradient of the loss with respect to `x`, and into the
    /// parameters' gradients, from `dOut`; `x` and `out` are the forward's.
    func backward(_ dOut: Slot, _ dx: Slot, _ x: Slot, _ out: Slot, _ pass: Pass)
}

/// The last step before the loss: the final stream (N, C) to logits (N, V).
public protocol ModelHead {
    func forward(_ x: Slot, logits: Slot, _ pass: Pass)
    /// Accumulates into `dx` and the parameters' gradients from `dLogits` (which it may
    /// overwrite).
    func backward(_ dLogits: Slot, _ dx: Slot, _ x: Slot, _ pass: Pass)
}

extension Architecture {
    public func afterUpdate(_ parameters: ParameterBuffer) {
        parameters.normalizeMatrices { $0.normalized }
    }

    public func afterInitialization(_ parameters: ParameterBuffer) { afterUpdate(parameters) }

    public func layerValues(_ parameters: ParameterBuffer) -> [LayerValues] { [] }
    public func logitScales(_ parameters: ParameterBuffer) -> [Float] { [] }

    /// The parameter layout.
    public var layout: ParameterLayout { ParameterLayout(parameters) }
}

extension ParameterBuffer {
    /// Makes the d-long vectors of every matrix that `selected` picks unit length along the
    /// spec's axis (docs/model.md §6), in buffer order; matrices without an axis are skipped.
    func normalizeMatrices(_ selected: (ParameterSpec) -> Bool) {
        for e in layout.entries where e.shape.count == 2 && selected(e.spec) {
            guard let axis = e.spec.vectors else { continue }
            normalizeVectors(base + e.offset, rows: e.shape[0], columns: e.shape[1], alongRows: axis == .rows)
        }
    }
}

extension ModelConfig {
    /// The library's architecture for this configuration's kind. The only place the kind is
    /// read.
    public func architecture() -> any Architecture {
        switch kind {
        case .gpt: GPTArchitecture(config: self)
        case .ngpt: NGPTArchitecture(config: self)
        }
    }
}

extension ModelConfig {
    /// The configuration a state dict's names and shapes imply (docs/model.md §1), for a file without
    /// ngpt's metadata — one written by PyTorch, say.
    ///
    /// - `V`, `d` from `transformer.wte.weight` (V, d); `L` from the largest `transformer.h.{l}`.
    /// - kind: GPT when `rmsnorm_f.weight` or `transformer.h.0.rmsnorm_att.weight` is present,
    ///   else nGPT.
    /// - GPT's q/k normalisation when `transformer.h.0.q_norm.weight` is present.
    /// - nGPT scaler modes from their shapes: a full vector → `.vector`, shape `[1]` →
    ///   `.scalar`, absent → `.fixed`. `s_init` and `s_scale` cannot be seen in the weights and
    ///   take the defaults of docs/model.md §8: give the configuration explicitly if the run changed them.
    ///   Nor can nGPT's weight and residual normalisation switches, which are taken as on.
    /// - `H` must be given, except for a GPT with q/k normalisation, whose gains have dk values
    ///   (`H = d / dk`; a given `H` must agree). The context is not in the shapes; it takes the
    ///   default 256 (it does not affect any inspected number).
    ///
    /// - Throws: ``ModelConfigError`` when `wte` or the layers are missing, or `heads` is nil and
    ///   cannot be inferred.
    public static func inferred(fromShapes shapes: [String: [Int]], heads: Int?, source: String = "the file") throws -> ModelConfig {
        guard let wte = shapes["transformer.wte.weight"], wte.count == 2 else {
            throw ModelConfigError(message: "\(source): no 2-D transformer.wte.weight, so the model's shape cannot be inferred; it needs NVIDIA's state-dict names (docs/model.md §1)")
        }
        let (v, d) = (wte[0], wte[1])
        let layerIndices = Set(shapes.keys.compactMap { name -> Int? in
            guard name.hasPrefix("transformer.h.") else { return nil }
            return Int(name.dropFirst("transformer.h.".count).prefix { $0 != "." })
        })
        guard let last = layerIndices.max(), layerIndices.count == last + 1 else {
            throw ModelConfigError(message: "\(source): the layers transformer.h.{l} are missing or not numbered 0..<L (found \(layerIndices.sorted()))")
        }
        let isGPT = shapes["rmsnorm_f.weight"] != nil || shapes["transformer.h.0.rmsnorm_att.weight"] != nil
        let qkGain = isGPT ? shapes["transformer.h.0.q_norm.weight"] : nil
        var heads = heads
        if let qkGain {
            // the gains have dk values: the file fixes H
            guard qkGain.count == 1, qkGain[0] > 0, d % qkGain[0] == 0 else {
                throw ModelConfigError(message: "\(source): transformer.h.0.q_norm.weight has shape \(ErrorText.cut("\(qkGain)")), not the head width of a model of width \(d) (docs/model.md §8)")
            }
            let implied = d / qkGain[0]
            if let heads, heads != implied {
                throw ModelConfigError(message: "\(source): --heads \(heads) contradicts the q/k-norm gains of \(qkGain[0]) values, which give \(implied) heads of width \(qkGain[0]); omit --heads")
            }
            heads = implied
        }
        guard let heads else {
            throw ModelConfigError(message: "\(source) has no ngpt configuration in its metadata; its shape was inferred (\(isGPT ? "gpt" : "ngpt"), d \(d), \(last + 1) layers, vocabulary \(v)) but the number of heads cannot be. HINT: pass --heads H")
        }
        var c = ModelConfig(kind: isGPT ? .gpt : .ngpt, vocabularySize: v, width: d, heads: heads, layers: last + 1,
                            gptQKNormalization: qkGain != nil)
        func mode(_ name: String) -> ScalerMode {
            guard let s = shapes[name] else { return .fixed }
            return s == [1] ? .scalar : .vector
        }
        if !isGPT {
            c.alpha.mode = mode("transformer.h.0.attn_alpha")
            c.sqk.mode = mode("transformer.h.0.sqk")
            c.suv.mode = mode("transformer.h.0.suv")
            c.sz.mode = mode("sz")
        }
        try c.validate()
        return c
    }
}

