import NGPT

// The tests of two-model comparisons read the results the way the pair reads: GPT's and nGPT's
// numbers at a budget, nGPT's speedups against GPT.
extension ComparisonResults.Budget {
    var gpt: SeedSummary? { self[model: "gpt"]?.loss }
    var ngpt: SeedSummary? { self[model: "ngpt"]?.loss }
    var gptSeconds: SeedSummary? { self[model: "gpt"]?.seconds }
    var ngptSeconds: SeedSummary? { self[model: "ngpt"]?.seconds }
    var gptBitsPerByte: SeedSummary? { self[model: "gpt"]?.bitsPerByte }
    var ngptBitsPerByte: SeedSummary? { self[model: "ngpt"]?.bitsPerByte }
    var lrGPT: Double? { self[model: "gpt"]?.lr }
    var lrNGPT: Double? { self[model: "ngpt"]?.lr }
    var speedup: Speedup.Ratio? { self[model: "ngpt"]?.speedup }
    var speedupBySeed: [Speedup.Ratio] { self[model: "ngpt"]?.speedupBySeed ?? [] }
    var wallClockSpeedup: Speedup.Ratio? { self[model: "ngpt"]?.wallClockSpeedup }
    var note: String? { self[model: "ngpt"]?.note }
    var lossGap: Interval? { self[model: "ngpt"]?.lossGap }
    var speedupFit: Speedup.Ratio? { self[model: "ngpt"]?.speedupFit }
    var speedupFitBySeed: [Speedup.Ratio]? { self[model: "ngpt"]?.speedupFitBySeed }
    var speedupInterval: Interval? { self[model: "ngpt"]?.speedupInterval }
}

extension ComparisonResults.Context {
    var gptBeyond: [ComparisonResults.Budget] { baselineBeyond }
    var lrGPT: Double { rates["gpt"] ?? .nan }
    var lrNGPT: Double { rates["ngpt"] ?? .nan }
}

extension ComparisonResults {
    var lrGPT: Double { rates["gpt"] ?? .nan }
    var lrNGPT: Double { rates["ngpt"] ?? .nan }
}
