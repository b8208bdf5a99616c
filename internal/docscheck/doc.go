// Package docscheck keeps the machine-readable documents that live beside
// the Go code (docs/asyncapi.yaml, the Grafana dashboard, the
// PrometheusRule and the Kubernetes manifests in deploy/) in step with it:
// its tests fail when a topic, schema, header, example or metric name in
// them no longer matches what the code uses, or when a manifest's selector
// would pick the pods of both components. It also checks the Markdown
// pages: every relative link and #anchor resolves, the settings and
// metrics tables match `consumer -h` and the metrics registry, every LTV_
// variable, ltv_ metric, make target and test a page names exists, and
// `make fuzz` runs every fuzz target. It has no code of its own.
package docscheck
