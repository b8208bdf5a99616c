package config_test

import (
	"math"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
)

// A scoring the model cannot compute gives a zero prediction; it must be
// counted (the service exports the count as ltv_prediction_failures_total),
// not pass silently.
func TestPredictorCountsTheScoringsItCannotCompute(t *testing.T) {
	var f config.File
	if err := config.ParseFile([]byte(spectest.Predictive), &f); err != nil {
		t.Fatal(err)
	}
	m, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	counter, ok := m.Predictive.Predictor.(interface{ Failures() int64 })
	if !ok {
		t.Fatalf("the predictor (%T) does not count its failures", m.Predictive.Predictor)
	}
	if p := m.Predictive.Predictor.Predict(3, 10, 20, 25, 0.4); p.PAlive <= 0 || counter.Failures() != 0 {
		t.Fatalf("a valid history: %+v, failures %d", p, counter.Failures())
	}
	if p := m.Predictive.Predictor.Predict(3, 10, 20, math.NaN(), 0.4); p.PAlive != 0 || p.CLV != 0 || counter.Failures() != 1 {
		t.Fatalf("a history the model cannot score: %+v, failures %d, want a zero prediction and 1", p, counter.Failures())
	}
}
