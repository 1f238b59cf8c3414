"""The spec: YAML read and validated into frozen data (model, parse, load), its layer types (layers/), the plan of rows with closed-form costs (plan), and variants. Imports no torch."""
