"""x' = -k x as an FMI 3.0 model-exchange FMU (no co-simulation: fmpy integrates it)."""

from pythonfmu3 import (
    Float64,
    Fmi3Causality,
    Fmi3Initial,
    Fmi3SlaveBase,
    Fmi3Variability,
    ModelExchange,
)


class Decay(Fmi3SlaveBase, ModelExchange):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.author = "Assay tests"
        self.description = "Exponential decay (FMI 3.0 model exchange)"
        self.time = 0.0
        self.k = 1.0
        self.x = 1.0
        self.derx = 0.0
        continuous = Fmi3Variability.continuous
        self.register_variable(
            Float64("time", causality=Fmi3Causality.independent, variability=continuous)
        )
        self.register_variable(
            Float64(
                "x",
                causality=Fmi3Causality.output,
                start=1,
                variability=continuous,
                initial=Fmi3Initial.exact,
            )
        )
        self.register_variable(
            Float64("derx", causality=Fmi3Causality.local, variability=continuous, derivative=1)
        )
        self.register_variable(
            Float64("k", causality=Fmi3Causality.parameter, variability=Fmi3Variability.fixed)
        )

    def get_continuous_state_derivatives(self):
        self.derx = -self.k * self.x
        return [self.derx]
