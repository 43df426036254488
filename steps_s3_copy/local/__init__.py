"""The local pipeline: an embedded AWS emulator and a runner that executes the state
machine's steps on this machine with the same code as the Lambdas and the container."""
