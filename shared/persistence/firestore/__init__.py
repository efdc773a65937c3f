"""The Firestore implementation of `shared/persistence/ports.py`, the one deployed: a
repository per aggregate (one module each), the units of work, and the container
`FirestoreRepositories` (`store.py`). Nothing outside `shared/persistence/firestore/`
imports the Firestore client library."""
