"""The shacl validator: RDF data (Turtle, JSON-LD, N-Triples, RDF/XML) against SHACL
shapes, with pySHACL."""

VERSION = "1.0.0"
