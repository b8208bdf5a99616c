package stream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestSASLAndTLSAgainstABroker connects with every supported SASL
// mechanism, over plaintext and over TLS, to a Kafka-protocol broker that
// requires them, and checks that writing and reading work and that wrong
// credentials fail without echoing the password.
func TestSASLAndTLSAgainstABroker(t *testing.T) {
	certs := testutil.NewTestTLS(t)
	users := []struct{ mech, user, pass string }{
		{stream.SASLPlain, "alice", "alice-secret-1"},
		{stream.SASLScramSHA256, "bob", "bob-secret-256"},
		{stream.SASLScramSHA512, "carol", "carol-secret-512"},
	}
	for _, useTLS := range []bool{false, true} {
		extra := []kfake.Opt{kfake.EnableSASL()}
		for _, u := range users {
			extra = append(extra, kfake.Superuser(u.mech, u.user, u.pass))
		}
		if useTLS {
			extra = append(extra, kfake.TLS(certs.Server))
		}
		_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"secure"}, Extra: extra})
		for _, u := range users {
			name := u.mech
			if useTLS {
				name += "+TLS"
			}
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				sec := stream.Security{SASLMechanism: u.mech, Username: u.user, Password: u.pass}
				if useTLS {
					sec.TLS = certs.ClientConfig(t)
				}
				if err := sec.Ping(ctx, brokers); err != nil {
					t.Fatalf("ping: %v", err)
				}
				// The log identity's request goes through another client.
				if id, err := sec.LogIdentity(ctx, brokers, []string{"secure"}); err != nil || len(id.TopicIDs["secure"]) != 32 {
					t.Fatalf("log identity: %+v, %v", id, err)
				}
				transport, err := sec.Transport()
				if err != nil {
					t.Fatal(err)
				}
				w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers, Transport: transport})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				value := "hello from " + u.user
				if err := w.WriteMessages(ctx, kafka.Message{Topic: "secure", Key: []byte(u.user), Value: []byte(value)}); err != nil {
					t.Fatalf("write: %v", err)
				}
				// The publisher (the consumer's outputs) over the same transport.
				pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers, Transport: transport}})
				published := value + " via the publisher"
				if err := pub.Publish(ctx, []pipeline.Message{{Topic: "secure", Key: []byte(u.user), Value: []byte(published)}}); err != nil {
					t.Fatalf("publish: %v", err)
				}
				dialer, err := sec.Dialer()
				if err != nil {
					t.Fatal(err)
				}
				missing := map[string]bool{value: true, published: true}
				for p := 0; p < 2 && len(missing) > 0; p++ {
					r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "secure", Partition: p, Dialer: dialer, MaxWait: 100 * time.Millisecond})
					for len(missing) > 0 {
						rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
						m, err := r.ReadMessage(rctx)
						rcancel()
						if err != nil {
							break
						}
						delete(missing, string(m.Value))
					}
					_ = r.Close()
				}
				if len(missing) > 0 {
					t.Fatalf("not read back: %v", missing)
				}

				wrong := sec
				wrong.Password = "not-" + u.pass
				err = wrong.Ping(ctx, brokers)
				if err == nil {
					t.Fatal("ping with a wrong password succeeded")
				}
				if strings.Contains(err.Error(), wrong.Password) || strings.Contains(err.Error(), u.pass) {
					t.Errorf("error reveals the password: %v", err)
				}
				idCtx, idCancel := context.WithTimeout(ctx, 5*time.Second)
				_, err = wrong.LogIdentity(idCtx, brokers, []string{"secure"})
				idCancel()
				if err == nil {
					t.Fatal("log identity with a wrong password succeeded")
				}
				if strings.Contains(err.Error(), wrong.Password) || strings.Contains(err.Error(), u.pass) {
					t.Errorf("log identity error reveals the password: %v", err)
				}
			})
		}
		if useTLS {
			t.Run("plaintext client to TLS broker fails", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				sec := stream.Security{SASLMechanism: users[0].mech, Username: users[0].user, Password: users[0].pass}
				if err := sec.Ping(ctx, brokers); err == nil {
					t.Fatal("plaintext connection to a TLS listener succeeded")
				}
			})
		}
	}
}

func TestSecurityValidateAndString(t *testing.T) {
	tests := []struct {
		sec     stream.Security
		wantErr string
	}{
		{stream.Security{}, ""},
		{stream.Security{SASLMechanism: "plain", Username: "u", Password: "p"}, ""},
		{stream.Security{SASLMechanism: "SCRAM-SHA-512", Username: "u"}, "username and password are required"},
		{stream.Security{SASLMechanism: "GSSAPI", Username: "u", Password: "p"}, "is not one of"},
	}
	for _, tc := range tests {
		err := tc.sec.Validate()
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("Validate(%s) = %v, want %q", tc.sec, err, tc.wantErr)
		}
	}
	s := stream.Security{SASLMechanism: "SCRAM-SHA-256", Username: "svc", Password: "hunter2"}.String()
	if strings.Contains(s, "hunter2") || !strings.Contains(s, "user=svc") {
		t.Errorf("String() = %q", s)
	}
}
