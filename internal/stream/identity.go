package stream

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// LogIdentity names the logs a consumer reads: the Kafka cluster, and each
// topic's id, which Kafka (2.8 and later) draws at random when the topic
// is created. Offsets mean something only within one topic's log, so a
// state built from one log must not be fed another that numbers its
// records from 0 again (a topic deleted and created, a new cluster).
type LogIdentity struct {
	// ClusterID is the cluster's id; "" when the broker gives none.
	ClusterID string
	// TopicIDs maps each topic asked about to its id in hex; "" when the
	// broker has no topic ids or the topic does not exist.
	TopicIDs map[string]string
}

// LogIdentity asks the brokers for the cluster's and the topics' ids.
// kafka-go's metadata request stops at a version without topic ids, so
// this one request goes through franz-go's client, with the same TLS,
// SASL and client id.
func (s Security) LogIdentity(ctx context.Context, brokers []string, topics []string) (LogIdentity, error) {
	if err := s.Validate(); err != nil {
		return LogIdentity{}, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RequestRetries(1)}
	if s.ClientID != "" {
		opts = append(opts, kgo.ClientID(s.ClientID))
	}
	if s.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(s.TLS.Clone()))
	}
	switch s.mechanismName() {
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()))
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return LogIdentity{}, fmt.Errorf("log identity: %w", err)
	}
	defer client.Close()
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
	}
	res, err := req.RequestWith(ctx, client)
	if err != nil {
		return LogIdentity{}, fmt.Errorf("log identity: metadata: %w", err)
	}
	id := LogIdentity{TopicIDs: make(map[string]string, len(topics))}
	if res.ClusterID != nil {
		id.ClusterID = *res.ClusterID
	}
	for _, name := range topics {
		id.TopicIDs[name] = ""
	}
	for _, t := range res.Topics {
		if t.Topic == nil || t.ErrorCode != 0 || t.TopicID == ([16]byte{}) {
			continue
		}
		if _, asked := id.TopicIDs[*t.Topic]; asked {
			id.TopicIDs[*t.Topic] = hex.EncodeToString(t.TopicID[:])
		}
	}
	return id, nil
}
