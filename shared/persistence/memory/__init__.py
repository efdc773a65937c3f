"""The in-memory twin of the Firestore repositories (`shared.persistence.ports`)."""

from shared.persistence.memory.repositories import MemoryRepositories

__all__ = ["MemoryRepositories"]
