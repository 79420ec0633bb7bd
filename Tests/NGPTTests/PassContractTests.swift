import XCTest
@testable import NGPTNumerics
@testable import NGPTModels

/// `Pass`'s contract: every kernel method checks its slots' sizes before its kernel runs, a
/// decoding pass runs no backward, and scratch is shared by key type. The checks report to the
/// pass's `contractViolation`, which stops the program by default; here it records instead.
final class PassContractTests: XCTestCase {
    /// A GPT of width C = 8, H = 2 heads, F = 32, vocabulary V = 11, and a pass of B = 2 sequences
    /// of T = 3 positions (N = 6), with a slot of the right size for every argument.
    final class Fixture {
        let model: Transformer
        let pass: Pass
        var violations: [PassContractViolation] = []
        let h = 2
        let qkv: Weight, fc: Weight, gain: Weight
        let scaler: Scaler
        let x, out, h2, qkvSlot, dqkv, unit, rnorm, scaleC, dScaleC, probs, dprobs, uv, duv, hidden, dHidden, scale2F,
            dScale2F, rstd, alpha, dAlpha, scratch, logits, dLogits, scaleV, dScaleV, effective: Slot
        /// What the LERP residual saves, for width C, and for width C + 1 (wrong).
        let saved: LerpSaved, savedWider: LerpSaved

        init(decoding: Bool = false) throws {
            let (c, h, f, v) = (8, 2, 32, 11)
            let config = ModelConfig(kind: .gpt, vocabularySize: 11, width: 8, heads: 2, layers: 1, context: 5)
            model = try Transformer(config: config, seed: 1)
            let layout = model.layout
            qkv = layout.weight(fusing: ["transformer.h.0.query.weight", "transformer.h.0.key.weight", "transformer.h.0.value.weight"])
            fc = layout.weight("transformer.h.0.c_fc.weight")
            gain = layout.vector("transformer.h.0.rmsnorm_att.weight")
            scaler = Scaler(offset: nil, config: ScalerConfig(mode: .fixed, initValue: 2, scale: 1), count: c)
            let mode: Pass.Mode = decoding
                ? .decoding(DecodingState(cache: KeyValueCache(layers: 1, window: 5, width: c), packed: nil)) : .training
            var plan = ActivationPlan(config: config, batch: decoding ? 1 : 2, sequence: decoding ? 1 : 3, mode: mode)
            (x, out, h2) = (plan.rows(c), plan.rows(c), plan.rows(c))
            (qkvSlot, dqkv, unit, rnorm) = (plan.rows(3 * c), plan.rows(3 * c), plan.rows(2 * c), plan.rows(2 * h))
            (scaleC, dScaleC) = (plan.reserve(c), plan.reserve(c))
            probs = plan.attentionProbabilities(heads: h)
            dprobs = plan.reserve(probs.count)
            (uv, duv, hidden, dHidden) = (plan.rows(2 * f), plan.rows(2 * f), plan.rows(f), plan.rows(f))
            (scale2F, dScale2F, rstd) = (plan.reserve(2 * f), plan.reserve(2 * f), plan.rows(1))
            (alpha, dAlpha, scratch) = (plan.reserve(c), plan.reserve(c), plan.rows(1))
            saved = LerpSaved(&plan, width: c)
            savedWider = LerpSaved(&plan, width: c + 1)
            (logits, dLogits, scaleV, dScaleV, effective) = (plan.rows(v), plan.rows(v), plan.reserve(v), plan.reserve(v), plan.reserve(c))
            pass = Pass(plan: plan, parameters: model.parameters, gradients: model.gradients, rope: model.rope)
            // distinct finite values everywhere, so a kernel that ran would show
            for i in 0..<pass.buffer.count { pass.buffer.base[i] = Float(i % 97) / 97 + 0.5 }
            for (i, s) in [scaleC, scale2F, alpha, scaleV].enumerated() {
                for j in 0..<s.count { pass.p(s)[j] = 1 + Float(i + j % 5) / 10 }
            }
            pass.contractViolation = { [unowned self] in self.violations.append($0) }
        }

        /// The pass's activations and the model's gradients, to see that nothing ran.
        var state: [Float] {
            Array(UnsafeBufferPointer(start: pass.buffer.base, count: pass.buffer.count)) + model.gradients.tensor("transformer.h.0.c_fc.weight")!.scalars
        }
    }

    /// A slot one float short of `s`.
    func short(_ s: Slot) -> Slot { s.part(0, s.count - 1) }

    /// Every kernel method, called with a slot of the wrong size for one argument at a time:
    /// each reports exactly that method and argument, and runs nothing. `zero` takes a slot of
    /// any size and has nothing to check.
    func testEveryKernelMethodChecksItsSlots() throws {
        let t = try Fixture()
        let p = t.pass
        let cases: [(method: String, argument: String, call: () -> Void)] = [
            ("copy", "dst", { p.copy(self.short(t.x), from: t.out) }),
            ("add", "dst", { p.add(t.x, self.short(t.out)) }),
            ("linear", "x", { p.linear(t.qkvSlot, self.short(t.x), t.qkv) }),
            ("linear", "out", { p.linear(t.out, t.x, t.qkv) }),
            ("linearBackward", "dx", { p.linearBackward(dx: t.dqkv, dOut: t.qkvSlot, x: t.x, weight: t.qkv) }),
            ("linearBackward", "dOut", { p.linearBackward(dx: t.out, dOut: self.short(t.dqkv), x: t.x, weight: t.qkv) }),
            ("linearBackward", "x", { p.linearBackward(dx: nil, dOut: t.dqkv, x: t.uv, weight: t.qkv) }),
            ("linearInputGradient", "dx", { p.linearInputGradient(dx: t.uv, dOut: t.duv, weight: t.fc) }),
            ("linearInputGradient", "dOut", { p.linearInputGradient(dx: t.x, dOut: t.dqkv, weight: t.fc) }),
            ("rmsNorm", "x", { p.rmsNorm(t.out, rstd: t.rstd, t.qkvSlot, gain: t.gain) }),
            ("rmsNorm", "out", { p.rmsNorm(self.short(t.out), rstd: t.rstd, t.x, gain: t.gain) }),
            ("rmsNorm", "rstd", { p.rmsNorm(t.out, rstd: t.scratch.part(0, 5), t.x, gain: t.gain) }),
            ("rmsNormBackward", "dx", { p.rmsNormBackward(dx: t.dqkv, dOut: t.out, x: t.x, rstd: t.rstd, gain: t.gain) }),
            ("rmsNormBackward", "dOut", { p.rmsNormBackward(dx: t.h2, dOut: t.uv, x: t.x, rstd: t.rstd, gain: t.gain) }),
            ("rmsNormBackward", "rstd", { p.rmsNormBackward(dx: t.h2, dOut: t.out, x: t.x, rstd: t.unit, gain: t.gain) }),
            ("lerpResidual", "h", { p.lerpResidual(t.out, t.x, self.short(t.h2), alpha: t.alpha, saved: t.saved) }),
            ("lerpResidual", "saved.hUnit", { p.lerpResidual(t.out, t.x, t.h2, alpha: t.alpha, saved: t.savedWider) }),
            ("lerpResidualBackward", "dAlpha", { p.lerpResidualBackward(dx: t.x, dh: t.h2, dAlpha: t.scaleV, dOut: t.out, out: t.out, x: t.x,
                                                                        alpha: t.alpha, saved: t.saved, scratch: t.scratch) }),
            ("lerpResidualBackward", "scratch", { p.lerpResidualBackward(dx: t.x, dh: t.h2, dAlpha: t.dAlpha, dOut: t.out, out: t.out, x: t.x,
                                                                         alpha: t.alpha, saved: t.saved, scratch: t.rstd.part(0, 3)) }),
            ("rope", "qkv", { p.rope(t.unit, heads: t.h) }),
            ("ropeBackward", "dqkv", { p.ropeBackward(dqkv: self.short(t.dqkv), heads: t.h) }),
            ("qkNorm", "qkv", { p.qkNorm(self.short(t.qkvSlot), unit: t.unit, rnorm: t.rnorm, scale: t.scaleC, heads: t.h) }),
            ("qkNorm", "unit", { p.qkNorm(t.qkvSlot, unit: t.x, rnorm: t.rnorm, scale: t.scaleC, heads: t.h) }),
            ("qkNorm", "rnorm", { p.qkNorm(t.qkvSlot, unit: t.unit, rnorm: t.rstd, scale: t.scaleC, heads: t.h) }),
            ("qkNorm", "scale", { p.qkNorm(t.qkvSlot, unit: t.unit, rnorm: t.rnorm, scale: t.scaleV, heads: t.h) }),
            ("qkNormBackward", "dScale", { p.qkNormBackward(dqkv: t.dqkv, dScale: t.dScale2F, unit: t.unit, rnorm: t.rnorm, scale: t.scaleC, heads: t.h) }),
            ("qkNormBackward", "unit", { p.qkNormBackward(dqkv: t.dqkv, dScale: t.dScaleC, unit: t.qkvSlot, rnorm: t.rnorm, scale: t.scaleC, heads: t.h) }),
            ("attention", "out", { p.attention(self.short(t.out), qkv: t.qkvSlot, probabilities: t.probs, heads: t.h, scale: 0.5, layer: 0) }),
            ("attention", "qkv", { p.attention(t.out, qkv: t.unit, probabilities: t.probs, heads: t.h, scale: 0.5, layer: 0) }),
            ("attention", "probabilities", { p.attention(t.out, qkv: t.qkvSlot, probabilities: self.short(t.probs), heads: t.h, scale: 0.5, layer: 0) }),
            ("attentionBackward", "scratch", { p.attentionBackward(dqkv: t.dqkv, scratch: self.short(t.dprobs), dOut: t.out, qkv: t.qkvSlot,
                                                                   probabilities: t.probs, heads: t.h, scale: 0.5) }),
            ("attentionBackward", "dqkv", { p.attentionBackward(dqkv: t.unit, scratch: t.dprobs, dOut: t.out, qkv: t.qkvSlot,
                                                                probabilities: t.probs, heads: t.h, scale: 0.5) }),
            ("swiglu", "uv", { p.swiglu(t.hidden, self.short(t.uv)) }),
            ("swiglu", "scale", { p.swiglu(t.hidden, t.uv, scale: t.scaleC) }),
            ("swigluBackward", "dUV", { p.swigluBackward(dUV: t.dqkv, dOut: t.dHidden, uv: t.uv) }),
            ("swigluBackward", "dScale", { p.swigluBackward(dUV: t.duv, dScale: t.dScaleC, dOut: t.dHidden, uv: t.uv, scale: t.scale2F) }),
            ("swigluBackward", "recomputed", { p.swigluBackward(dUV: t.duv, dOut: t.dHidden, uv: t.uv, recomputed: t.x) }),
            ("scaler", "out", { p.scaler(t.scale2F, t.scaler) }),
            ("scalerBackward", "dEffective", { p.scalerBackward(dEffective: t.dScaleV, t.scaler) }),
            ("scaleColumns", "x", { p.scaleColumns(t.logits, t.x, scale: t.scaleV) }),
            ("scaleColumns", "out", { p.scaleColumns(self.short(t.logits), t.dLogits, scale: t.scaleV) }),
            ("scaleColumnsBackward", "dScale", { p.scaleColumnsBackward(dx: t.logits, dScale: t.dScaleC, dOut: t.dLogits, x: t.logits, scale: t.scaleV) }),
            ("scaleColumnsBackward", "dx", { p.scaleColumnsBackward(dx: t.out, dScale: t.dScaleV, dOut: t.dLogits, x: t.logits, scale: t.scaleV) }),
        ]
        let before = t.state
        for (method, argument, call) in cases {
            t.violations = []
            call()
            XCTAssertEqual(t.violations.map { "\($0.method) \($0.argument)" }, ["\(method) \(argument)"],
                           "a wrong \(argument) is reported by \(method), and only it")
        }
        XCTAssertTrue(t.state == before, "no kernel ran with a slot of the wrong size")
        // Every kernel method with a slot to check is among the cases.
        let methods = ["copy", "add", "linear", "linearBackward", "linearInputGradient", "rmsNorm", "rmsNormBackward",
                       "lerpResidual", "lerpResidualBackward", "rope", "ropeBackward", "qkNorm", "qkNormBackward", "attention",
                       "attentionBackward", "swiglu", "swigluBackward", "scaler", "scalerBackward", "scaleColumns",
                       "scaleColumnsBackward"]
        XCTAssertEqual(Set(cases.map(\.method)), Set(methods))
        XCTAssertTrue(t.violations.allSatisfy { $0.description.hasPrefix("Pass.") }, "messages name the method")
    }

    /// The same methods with every slot of the right size report nothing and run (the checks do
    /// not refuse what fits).
    func testSlotsThatFitPass() throws {
        let t = try Fixture()
        let p = t.pass
        let before = t.state
        p.copy(t.x, from: t.out)
        p.add(t.x, t.out)
        p.linear(t.qkvSlot, t.x, t.qkv)
        p.linear(t.out, t.x, t.qkv.rowsOfAttentionOutput, accumulate: true)
        p.linearBackward(dx: t.x, dOut: t.dqkv, x: t.x, weight: t.qkv)
        p.linearBackward(dx: nil, dOut: t.duv, x: t.x, weight: t.fc)
        p.linearInputGradient(dx: t.x, dOut: t.duv, weight: t.fc, overwrite: true)
        p.rmsNorm(t.out, rstd: t.rstd, t.x, gain: t.gain)
        p.rmsNormBackward(dx: t.h2, dOut: t.out, x: t.x, rstd: t.rstd, gain: t.gain)
        p.lerpResidual(t.out, t.x, t.h2, alpha: t.alpha, saved: t.saved)
        p.lerpResidualBackward(dx: t.x, dh: t.h2, dAlpha: t.dAlpha, dOut: t.out, out: t.out, x: t.x, alpha: t.alpha,
                               saved: t.saved, scratch: t.scratch)
        p.rope(t.qkvSlot, heads: t.h)
        p.ropeBackward(dqkv: t.dqkv, heads: t.h)
        p.qkNorm(t.qkvSlot, unit: t.unit, rnorm: t.rnorm, scale: t.scaleC, heads: t.h)
        p.qkNormBackward(dqkv: t.dqkv, dScale: t.dScaleC, unit: t.unit, rnorm: t.rnorm, scale: t.scaleC, heads: t.h)
        p.attention(t.out, qkv: t.qkvSlot, probabilities: t.probs, heads: t.h, scale: 0.5, layer: 0)
        p.attentionBackward(dqkv: t.dqkv, scratch: t.dprobs, dOut: t.out, qkv: t.qkvSlot, probabilities: t.probs, heads: t.h, scale: 0.5)
        p.swiglu(t.hidden, t.uv, scale: t.scale2F, multiplier: 2)
        p.swigluBackward(dUV: t.duv, dScale: t.dScale2F, dOut: t.dHidden, uv: t.uv, scale: t.scale2F, multiplier: 2,
                         recomputed: t.hidden)
        p.scaler(t.effective, t.scaler)
        p.scalerBackward(dEffective: t.effective, t.scaler)
        p.scaleColumns(t.logits, t.dLogits, scale: t.scaleV)
        p.scaleColumnsBackward(dx: t.logits, dScale: t.dScaleV, dOut: t.dLogits, x: t.logits, scale: t.scaleV)
        XCTAssertEqual(t.violations.map(\.description), [])
        XCTAssertFalse(t.state == before, "the kernels ran")
        XCTAssertTrue(t.state.allSatisfy(\.isFinite))
    }

    /// A pass built to decode stays one: no backward method runs in it, and its plan reserves no
    /// attention probabilities.
    func testADecodingPassRunsNoBackward() throws {
        let t = try Fixture(decoding: true)
        let p = t.pass
        XCTAssertTrue(p.decoding)
        XCTAssertEqual(t.probs.count, 0, "the cache keeps its own scores")
        XCTAssertFalse(try Fixture().pass.decoding)
        let before = t.state
        p.linearBackward(dx: t.x, dOut: t.dqkv, x: t.x, weight: t.qkv)
        p.linearInputGradient(dx: t.x, dOut: t.duv, weight: t.fc)
        p.rmsNormBackward(dx: t.h2, dOut: t.out, x: t.x, rstd: t.rstd, gain: t.gain)
        p.lerpResidualBackward(dx: t.x, dh: t.h2, dAlpha: t.dAlpha, dOut: t.out, out: t.out, x: t.x, alpha: t.alpha,
                               saved: t.saved, scratch: t.scratch)
        p.ropeBackward(dqkv: t.dqkv, heads: t.h)
        p.qkNormBackward(dqkv: t.dqkv, dScale: t.dScaleC, unit: t.unit, rnorm: t.rnorm, scale: t.scaleC, heads: t.h)
        p.attentionBackward(dqkv: t.dqkv, scratch: t.dprobs, dOut: t.out, qkv: t.qkvSlot, probabilities: t.probs, heads: t.h, scale: 0.5)
        p.swigluBackward(dUV: t.duv, dOut: t.dHidden, uv: t.uv)
        p.scalerBackward(dEffective: t.effective, t.scaler)
        p.scaleColumnsBackward(dx: t.logits, dScale: t.dScaleV, dOut: t.dLogits, x: t.logits, scale: t.scaleV)
        XCTAssertEqual(t.violations.map { "\($0.method) \($0.argument)" },
                       ["linearBackward", "linearInputGradient", "rmsNormBackward", "lerpResidualBackward", "ropeBackward",
                        "qkNormBackward", "attentionBackward", "swigluBackward", "scalerBackward", "scaleColumnsBackward"].map { "\($0) pass" })
        XCTAssertTrue(t.state == before, "no backward ran")
        // forward runs, against the cache
        p.attention(t.out, qkv: t.qkvSlot, probabilities: t.probs, heads: t.h, scale: 0.5, layer: 0)
        XCTAssertEqual(t.violations.count, 10)
        XCTAssertFalse(t.state == before)
    }

    /// Scratch is shared by key type, sized to the largest request; another type of the same
    /// name is another buffer. (A misspelt key is a type that does not exist: it does not
    /// compile.)
    func testScratchIsSharedByKeyType() throws {
        enum Hidden: ScratchKey {}
        var plan = ActivationPlan(config: ModelConfig(kind: .gpt, vocabularySize: 11, width: 8, heads: 2, layers: 1, context: 5),
                                  batch: 2, sequence: 3, mode: .training)
        let a = plan.shared(Scratch.Hidden.self, 10)
        let own = plan.reserve(4)
        let b = plan.shared(Scratch.Hidden.self, 30)
        let c = plan.shared(Hidden.self, 7)
        XCTAssertEqual(a.id, b.id, "one key, one buffer")
        XCTAssertEqual([a.count, b.count, c.count], [10, 30, 7], "each caller's slot has the size it asked for")
        XCTAssertEqual(plan.sizes[a.id], 30, "the buffer is as large as the largest request")
        XCTAssertNotEqual(c.id, a.id, "a type of the same name is another key")
        XCTAssertEqual(Set([a.id, own.id, c.id]).count, 3)
        XCTAssertEqual(plan.sizes.reduce(0, +), 30 + 4 + 7)
    }
}

private extension Weight {
    /// The first C rows of a (3C, C) q | k | v weight: a (C, C) map, as the attention's output
    /// projection is.
    var rowsOfAttentionOutput: Weight { Weight(offset: offset, rows: columns, columns: columns) }
}
