import ArgumentParser
import Foundation
import NGPT

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Condition numbers, embedding geometry and scalers of checkpoints (docs/model.md §9), as JSON and an HTML report.",
        discussion: """
        CHECKPOINT is a run directory (its model.safetensors) or a model .safetensors file; give \
        several (e.g. a GPT and an nGPT run of the same shape) to overlay them. DIR gets \
        inspect.json (every number; an infinite condition number is the string "inf") and \
        report.html (figures in the style of the paper's Figures 4–6). stdout gets the median \
        condition number of each matrix kind per model. A file without ngpt's metadata (written by \
        PyTorch with NVIDIA's names) has its shape inferred from the tensors and needs --heads.
        """)

    @Argument(help: "Run directories or model .safetensors files.") var checkpoints: [String]
    @Option(help: ArgumentHelp("Output directory (created if missing).", valueName: "DIR")) var out: String
    @Option(help: "Heads, for files without ngpt's metadata (must match the metadata otherwise).") var heads: Int?
    @Option(name: .customLong("label"), help: "A name per checkpoint for tables and legends, in order (default: GPT, nGPT, or the run's name).")
    var labels: [String] = []
    @Option(help: "Use all pairs of embedding rows for the cosine distribution up to this vocabulary size.") var allPairsLimit: Int = 4096
    @Option(help: "Pairs of rows sampled beyond --all-pairs-limit.") var pairs: Int = 1_000_000
    @Option(help: "Seed of the pair sample.") var seed: UInt64 = 0
    @Option(help: "Bins of the cosine histograms.") var bins: Int = 200
    @Option(help: "Threads (default: OPENBLAS_NUM_THREADS, else all cores).") var threads: Int?

    func validate() throws {
        guard labels.isEmpty || labels.count == checkpoints.count else {
            throw ValidationError("--label was given \(labels.count) times for \(checkpoints.count) checkpoints; give one per checkpoint or none")
        }
        if let heads, heads < 1 { throw ValidationError("--heads must be at least 1, got \(heads)") }
    }

    func run() throws {
        try applyThreads(threads)
        let dir = try pathOption(out, "--out")
        let options = InspectionOptions(allPairsLimit: allPairsLimit, sampledPairs: pairs, seed: seed, histogramBins: bins)
        try options.validate()
        // a run directory: its newest checkpoint's model
        let loaded = try checkpoints.map { try InspectedCheckpoint.load(RunDirectory.newestModel(in: URL(fileURLWithPath: $0))?.path ?? $0, heads: heads) }
        let names = labels.isEmpty ? defaultLabels(loaded, sources: checkpoints) : labels
        var models = [ModelInspection]()
        for (c, label) in zip(loaded, names) {
            printError("inspecting \(label): \(c.url.path)")
            models.append(try ModelInspection(model: c.model, label: label, source: c.url.path, step: c.step,
                                              configInferred: c.configInferred, options: options))
        }
        let report = InspectionReport(models: models, options: options)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let json = dir.appendingPathComponent("inspect.json"), html = dir.appendingPathComponent("report.html")
        try report.jsonData().write(to: json, options: .atomic)
        try Data(report.html().utf8).write(to: html, options: .atomic)
        print(report.textTable(), terminator: "")
        print("\nwrote \(json.path)\nwrote \(html.path)")
    }

    /// GPT / nGPT when each kind appears once; otherwise the kind and the run's directory name.
    private func defaultLabels(_ loaded: [InspectedCheckpoint], sources: [String]) -> [String] {
        let kinds = loaded.map(\.model.config.kind)
        return zip(loaded, sources).map { c, source in
            let kind = c.model.config.kind == .gpt ? "GPT" : "nGPT"
            guard kinds.filter({ $0 == c.model.config.kind }).count > 1 else { return kind }
            let file = URL(fileURLWithPath: source).lastPathComponent
            let name = file == Checkpoint.modelFile ? URL(fileURLWithPath: source).deletingLastPathComponent().lastPathComponent : file
            return "\(kind) \(name)"
        }
    }
}
