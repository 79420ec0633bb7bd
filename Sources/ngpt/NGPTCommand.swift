import ArgumentParser
import NGPT

@main
struct NGPTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ngpt",
        abstract: "Train and study the normalized Transformer (nGPT) beside a baseline GPT on the CPU.",
        version: SwiftNGPT.version,
        subcommands: [Info.self, Prepare.self, Train.self, Sample.self, Compare.self, Inspect.self, Cond.self, Bench.self]
    )
}
