// `ngpt` with the examples' architectures registered: `ngpt-examples train --model qknorm-gpt …`,
// `ngpt-examples sample RUN`, `ngpt-examples ablate --variants ngpt,gpt,qknorm-gpt …`. The
// library's tool is the same main() without the list.
import NGPTCommand
import NGPTExamples

NGPTCommand.main(registering: ExampleArchitectures.all)
