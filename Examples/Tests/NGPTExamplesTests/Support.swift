import NGPT
import XCTest

/// Plain English prose, written for these tests, as the real text the training tests learn from
/// (byte-level: token ids are the UTF-8 bytes, vocabulary 256).
let prose = """
    The village stood where the river bent twice before it reached the sea. In the morning the \
    fishermen walked down to the harbour with their nets over their shoulders, and the bakers \
    had already been awake for hours. Bread was sold from a window that opened onto the square, \
    and the children who were sent to fetch it often ate the end of the loaf on the way home. \
    Nobody scolded them for it, because everyone had done the same when they were young.

    In spring the hills above the village turned green, then yellow with small flowers that had \
    no name anyone could agree on. The old teacher called them sun buttons; the doctor, who had \
    studied in the city, insisted on a long word that nobody remembered. Sheep grazed between \
    the stone walls, and in the evening their bells could be heard from the lowest street, \
    faint and uneven, like a clock that had forgotten how to count.

    The harbour was small, but it was deep enough for the boats that came in from the islands \
    with salt, wool and letters. When a boat was seen on the horizon, word travelled up the \
    streets faster than any runner. Shopkeepers stepped out of their doors, the postmaster put \
    on his cap, and the dogs began to bark at nothing in particular. A boat meant news, and \
    news was the one thing the village never had enough of.

    Winters were long and grey. The wind came from the north and found every gap in every \
    window frame, so people stuffed the cracks with rags and sat close to the stove. In the \
    long evenings they told stories, and the same stories were told so often that the \
    listeners could have told them better than the speakers. Still, nobody interrupted. A story \
    was not about what happened; it was about the pleasure of hearing it again.

    There was a library above the town hall with three shelves of books and a table by the \
    window. The books had been given by families who had moved away, and many of them still had \
    names written on the first page in careful handwriting. A child could spend a whole \
    afternoon there reading about places that were far away, and then walk home along the \
    harbour wall, looking at the sea, and wonder which of those places lay beyond it.

    Once a year, at the end of summer, the village held a fair. Tables were carried into the \
    square, lanterns were hung between the houses, and musicians came from the next valley \
    with a fiddle, a drum and a small accordion that had been repaired so many times it was \
    more glue than wood. People danced until late, and the next morning the square was quiet \
    again, except for the sound of someone sweeping, slowly, and humming the last song of the \
    night.

    The river never froze, even in the coldest years, and the bridge over it was the oldest \
    thing in the village. Its stones were worn smooth in the middle where carts had passed for \
    centuries. Travellers sometimes stopped on the bridge to look at the water, and the people \
    of the village would smile at them, because they knew exactly what the travellers were \
    thinking: that this would be a good place to stay, and that they would probably never come \
    back.
    """

/// Byte tokens of the prose.
let proseTokens = Array(prose.utf8).map(Int.init)

/// A model small enough to check by finite differences quickly.
func tinyConfig(_ kind: ModelKind) -> ModelConfig {
    ModelConfig(kind: kind, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5)
}

/// Fails for every comparison of the library's finite-difference check that does not pass, and
/// returns the largest |backward − finite differences| relative to its tolerance.
@discardableResult
func checkGradients(_ model: Transformer, seed: UInt64, label: String,
                    file: StaticString = #filePath, line: UInt = #line) throws -> Double {
    let results = try FiniteDifferenceCheck().run(model, batch: 2, sequence: 5, seed: seed)
    XCTAssertEqual(results.filter { $0.direction == "random" }.count, model.layout.entries.count,
                   "\(label): every tensor checked", file: file, line: line)
    for r in results where !r.passed {
        XCTFail("\(label): \(r)", file: file, line: line)
    }
    let worst = results.map { abs($0.analytic - $0.numeric) / $0.tolerance }.max() ?? 0
    print("\(label): \(results.count) comparisons, worst |error|/tolerance \(worst)")
    return worst
}

/// Trains `architecture` for `steps` steps of `batch` random windows of the prose's first 80 %
/// with its recipe and schedule, and returns the mean loss on fixed windows of the last 20 %
/// (held out) before and after.
func trainOnProse(_ architecture: any Architecture, steps: Int = 30, batch: Int = 4, seed: UInt64 = 0) throws
    -> (before: Double, after: Double, losses: [Double]) {
    let t = architecture.config.context
    let split = proseTokens.count * 4 / 5
    let (train, heldOut) = (Array(proseTokens[..<split]), Array(proseTokens[split...]))
    precondition(heldOut.count > 4 * (t + 1), "the held-out prose must hold four windows")
    func windows(_ text: [Int], starts: [Int]) -> (inputs: [Int], targets: [Int]) {
        (starts.flatMap { text[$0..<$0 + t] }, starts.flatMap { text[$0 + 1..<$0 + t + 1] })
    }
    let eval = windows(heldOut, starts: (0..<4).map { $0 * (heldOut.count - t - 1) / 3 })
    let model = try Transformer(architecture: architecture, seed: seed)
    func heldOutLoss() throws -> Double {
        Double(try model.forward(tokens: eval.inputs, targets: eval.targets, batch: 4, sequence: t))
    }
    let before = try heldOutLoss()
    let recipe = architecture.recipe, schedule = recipe.schedule(steps: steps)
    let step = TrainingStep(model: model, recipe: recipe)
    var rng = SeededGenerator(seed: seed &+ 1)
    var losses = [Double]()
    for i in 0..<steps {
        let starts = (0..<batch).map { _ in Int(rng.next() % UInt64(train.count - t - 1)) }
        losses.append(try step(lr: Float(schedule.lr(at: i)), batch: batch, sequence: t) { windows(train, starts: starts) }.loss)
    }
    return (before, try heldOutLoss(), losses)
}

/// Fails unless the key/value-cached logits at every position equal a full forward pass's (within
/// 1e-5 of their largest magnitude: the two sum in different orders).
func checkCachedDecoding(_ architecture: any Architecture, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
    let model = try Transformer(architecture: architecture, seed: seed)
    let v = architecture.config.vocabularySize
    let tokens = (0..<architecture.config.context).map { ($0 * 7 + 3) % v }
    try model.forward(tokens: tokens, batch: 1, sequence: tokens.count)
    let full = model.logits.scalars
    let generator = Generator(model: model)
    for (i, t) in tokens.enumerated() {
        let got = i == 0 ? try generator.prime([t]) : try generator.append(t)
        let want = Array(full[i * v..<(i + 1) * v])
        let err = zip(got, want).map { abs($0 - $1) }.max()! / want.map(abs).max()!
        XCTAssertLessThanOrEqual(err, 1e-5, "\(architecture.name): cached logits at position \(i) differ by \(err) of their max-abs value",
                                 file: file, line: line)
    }
}
