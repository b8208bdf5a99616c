// Package docscheck keeps the machine-readable documents that live beside
// the Go code (docs/asyncapi.yaml, the Grafana dashboard, the
// PrometheusRule and the Kubernetes manifests in deploy/) in step with it:
// its tests fail when a topic, schema, header, example or metric name in
// them no longer matches what the code uses, or when a manifest's selector
// would pick the pods of both components. It has no code of its own.
package docscheck
