// The `ngpt` tool: the library's command line with the library's own architectures. A package
// with architectures of its own builds its tool the same way, registering them:
// `NGPTCommand.main(registering: [MyArchitecture.self])` (see Examples/).
import NGPTCommand

NGPTCommand.main()
