/// Offsets handed out from one allocation, llm.c-style: every activation and scratch tensor of
/// a forward/backward pass is carved from a single ``FloatBuffer`` sized for one (B, T).
struct Carver {
    private(set) var total = 0
    mutating func take(_ n: Int) -> Int {
        defer { total += n }
        return total
    }
}

/// What one block's forward saves for its backward. Offsets into ``Activations/buffer``;
/// buffers a kind does not use have size 0.
struct LayerActivations {
    // both kinds
    var xMid = 0        // (N, C) stream after the attention residual
    var qkv = 0         // (N, 3C) q | k | v as attention consumes them (rotated, normalised, scaled)
    var probs = 0       // (B, H, packed causal blocks) attention probabilities
    var attY = 0        // (N, C) merged attention heads
    var uv = 0          // (N, 2F) c_fc output u | ν (before suv for nGPT); h = u ⊙ SiLU(ν) is recomputed
    // GPT
    var attNormed = 0   // (N, C) RMSNorm(x)⊙w before attention
    var attRstd = 0     // (N)
    var mlpNormed = 0   // (N, C)
    var mlpRstd = 0     // (N)
    // nGPT
    var qkUnit = 0      // (N, 2C) Norm(q_h) | Norm(k_h) before sqk
    var qkRnorm = 0     // (N, 2H)
    var rnormIn = 0     // (N) 1/‖x‖ of the block input
    var hAUnit = 0      // (N, C) Norm(h_A)
    var rnormHA = 0     // (N)
    var rnormZA = 0     // (N)
    var rnormMid = 0    // (N) 1/‖x‖ of xMid
    var hMUnit = 0      // (N, C) Norm(h_M)
    var rnormHM = 0     // (N)
    var rnormZM = 0     // (N)
    // nGPT effective scalers of this layer, recomputed every forward
    var alphaA = 0      // (C)
    var alphaM = 0      // (C)
    var sqk = 0         // (C)
    var suv = 0         // (2F)
}

/// All activations and scratch of a model for one batch shape, allocated once per (B, T) and
/// reused by every step of that shape.
final class Activations {
    let batch: Int, sequence: Int, rows: Int
    let buffer: FloatBuffer
    var tokens: [Int32]
    var targets: [Int32]
    var hasTargets = false

    var layers: [LayerActivations] = []
    var stream: [Int] = []      // L+1 × (N, C): stream[l] enters block l, stream[L] leaves the last
    var finalNormed = 0         // (N, C) GPT: RMSNorm(x_L)⊙w
    var finalRstd = 0           // (N)
    var logitsRaw = 0           // (N, V) nGPT: x_L·lm_headᵀ before s_z
    var logits = 0              // (N, V)
    var probs = 0               // (N, V) softmax, then dlogits in backward
    var losses = 0              // (N)
    var sz = 0                  // (V) nGPT effective s_z
    var branch = 0              // (N, C) forward scratch: a block's branch output
    var hidden = 0              // (N, F) scratch: h = u ⊙ SiLU(ν), recomputed in backward
    // backward scratch, shared by all layers
    var dStream = [0, 0]        // 2 × (N, C): gradient entering / leaving a block
    var dXMid = 0, dqkv = 0, dAttY = 0, dprobs = 0, duv = 0, dh = 0, dBranch = 0, dNormed = 0
    var dLogitsRaw = 0          // (N, V)
    var dScaler = 0             // (2F + 3C + V) gradients of effective scalers
    var lerpScratch = 0         // (N)

    init(config c: ModelConfig, batch b: Int, sequence t: Int) {
        batch = b
        sequence = t
        let n = b * t
        rows = n
        let (d, f, v, h) = (c.width, c.hiddenWidth, c.vocabularySize, c.heads)
        let gpt = c.kind == .gpt
        tokens = [Int32](repeating: 0, count: n)
        targets = [Int32](repeating: 0, count: n)
        var k = Carver()
        for _ in 0...c.layers { stream.append(k.take(n * d)) }
        for _ in 0..<c.layers {
            var a = LayerActivations()
            a.xMid = k.take(n * d)
            a.qkv = k.take(n * 3 * d)
            a.probs = k.take(b * h * attentionScoresCount(sequence: t))
            a.attY = k.take(n * d)
            a.uv = k.take(n * 2 * f)
            if gpt {
                a.attNormed = k.take(n * d); a.attRstd = k.take(n)
                a.mlpNormed = k.take(n * d); a.mlpRstd = k.take(n)
            } else {
                a.qkUnit = k.take(n * 2 * d); a.qkRnorm = k.take(n * 2 * h)
                a.rnormIn = k.take(n); a.hAUnit = k.take(n * d); a.rnormHA = k.take(n); a.rnormZA = k.take(n)
                a.rnormMid = k.take(n); a.hMUnit = k.take(n * d); a.rnormHM = k.take(n); a.rnormZM = k.take(n)
                a.alphaA = k.take(d); a.alphaM = k.take(d); a.sqk = k.take(d); a.suv = k.take(2 * f)
            }
            layers.append(a)
        }
        if gpt { finalNormed = k.take(n * d); finalRstd = k.take(n) }
        else { logitsRaw = k.take(n * v); sz = k.take(v); dLogitsRaw = k.take(n * v) }
        logits = k.take(n * v)
        probs = k.take(n * v)
        losses = k.take(n)
        branch = k.take(n * d)
        hidden = k.take(n * f)
        dStream = [k.take(n * d), k.take(n * d)]
        dXMid = k.take(n * d); dqkv = k.take(n * 3 * d); dAttY = k.take(n * d)
        dprobs = k.take(b * h * attentionScoresCount(sequence: t)); duv = k.take(n * 2 * f); dh = k.take(n * f)
        dBranch = k.take(n * d); dNormed = k.take(n * d)
        dScaler = k.take(2 * f + 3 * d + v)
        lerpScratch = k.take(n)
        buffer = FloatBuffer(count: k.total)
    }

    /// The pointer to a carved offset.
    @inline(__always) func p(_ offset: Int) -> FloatPointer { buffer.base + offset }
}
