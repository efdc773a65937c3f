"""A tank that carries a label: a String parameter `label` whose start value is LABEL
(the hidden-secret test builds it with its secret there), and `gain`, a Real parameter
the test may give a start value no parser accepts. Its output `level` rises at `gain`."""

from pythonfmu import Fmi2Causality, Fmi2Slave, Real, String

LABEL = "label"


class Labelled(Fmi2Slave):
    author = "Assay tests"
    description = "A tank with a label"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.label = LABEL
        self.gain = 1.5
        self.level = 0.0
        for name in ("label", "gain"):
            kind = String if name == "label" else Real
            self.register_variable(
                kind(name, causality=Fmi2Causality.parameter, variability="tunable")
            )
        self.register_variable(Real("level", causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        self.level += self.gain * step_size
        return True
