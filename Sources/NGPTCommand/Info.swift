import ArgumentParser
import NGPT

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the BLAS configuration (build, core kernel, thread counts) and the architectures this program knows.")

    @Option(help: "Threads for BLAS and the library's parallel loops (default: OPENBLAS_NUM_THREADS, else all cores).")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
    }

    func run() throws {
        if let t = threads { Threads.set(t) }
        let blas = Threads.blasDescription
        print("ngpt \(SwiftNGPT.version)")
        print("blas config:      \(blas.config)")
        print("blas core:        \(blas.core)")
        print("blas threads:     \(blas.threads)")
        print("library threads:  \(Threads.count)")
        print("processors:       \(blas.processors)")
        for (i, a) in ArchitectureRegistry.known.enumerated() {
            print("\(i == 0 ? "architectures:    " : "                  ")\(a.name.padding(toLength: max(14, a.name.count), withPad: " ", startingAt: 0)) \(a.summary)")
        }
    }
}
