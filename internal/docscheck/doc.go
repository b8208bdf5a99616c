// Package docscheck keeps the machine-readable documents that live beside
// the Go code (docs/asyncapi.yaml, the Grafana dashboard and the
// PrometheusRule in deploy/) in step with it: its tests fail when a topic,
// schema, header, example or metric name in them no longer matches what
// the code uses. It has no code of its own.
package docscheck
