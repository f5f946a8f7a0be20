"""docbot: deploy on Cloudera Machine Learning (CML API v2).

- `client`: the `CmlClient` protocol, errors, `make_client(settings)` (cmlapi when
  importable, else REST); `rest_client`, `sdk_client`: the two implementations.
- `runtimes`: choosing an ML Runtime (pure). `plan`: desired jobs and application
  vs. what CML has (pure). `apply`: carry out a plan; `status_lines`.
- `reingest`: `run_cml_reingest`, re-ingest from chat by running the jobs.
- `cli`: `docbot deploy cml [--dry-run]`, `docbot deploy status`.
- `install_deps`, `amp_setup`: scripts the AMP (`.project-metadata.yaml`) runs.
"""
