package stream

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms the service speaks (the names Kafka uses).
const (
	SASLPlain        = "PLAIN"
	SASLScramSHA256  = "SCRAM-SHA-256"
	SASLScramSHA512  = "SCRAM-SHA-512"
	defaultDialLimit = 10 * time.Second
)

// Security is how every Kafka connection of the service (consumer group
// and fetchers, writers, admin and health checks) authenticates and
// encrypts. The zero value is plaintext without authentication.
type Security struct {
	// SASLMechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLMechanism string
	// Username and Password are the SASL credentials. Password is never
	// printed: String and every error leave it out.
	Username, Password string
	// TLS enables TLS when non-nil.
	TLS *tls.Config
	// ClientID is the Kafka client.id the broker sees (logs, quotas, and
	// the prefix of this process's group member id); "" keeps kafka-go's
	// default.
	ClientID string
}

// String describes the settings without the password, for logs.
func (s Security) String() string {
	mech := s.SASLMechanism
	if mech == "" {
		mech = "none"
	}
	out := "sasl=" + mech
	if s.SASLMechanism != "" {
		out += " user=" + s.Username
	}
	if s.TLS != nil {
		out += " tls=on"
	} else {
		out += " tls=off"
	}
	return out
}

// Validate checks the settings before anything connects, so a typo is a
// start-up error instead of an endless authentication retry.
func (s Security) Validate() error {
	_, err := s.mechanism()
	return err
}

// settings returns the SASL mechanism, and whether anything is set that
// kafka-go's default (plaintext, no SASL, no client id) lacks.
func (s Security) settings() (mech sasl.Mechanism, set bool, err error) {
	if mech, err = s.mechanism(); err != nil {
		return nil, false, err
	}
	return mech, mech != nil || s.TLS != nil || s.ClientID != "", nil
}

// mechanismName is SASLMechanism as Kafka spells it ("" for none).
func (s Security) mechanismName() string { return strings.ToUpper(strings.TrimSpace(s.SASLMechanism)) }

func (s Security) mechanism() (sasl.Mechanism, error) {
	mech := s.mechanismName()
	if mech == "" {
		return nil, nil
	}
	if s.Username == "" || s.Password == "" {
		return nil, fmt.Errorf("kafka sasl %s: username and password are required", mech)
	}
	switch mech {
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if mech == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			// The library's error does not contain the password.
			return nil, fmt.Errorf("kafka sasl %s: %w", mech, err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("kafka sasl mechanism %q is not one of %s, %s, %s", s.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
}

// Dialer returns a kafka-go dialer with these settings (nil, nil for
// plaintext without SASL, which kafka-go treats as its default dialer).
func (s Security) Dialer() (*kafka.Dialer, error) {
	mech, set, err := s.settings()
	if err != nil || !set {
		return nil, err
	}
	return &kafka.Dialer{Timeout: defaultDialLimit, DualStack: true, SASLMechanism: mech, TLS: s.TLS, ClientID: s.ClientID}, nil
}

// Transport returns a kafka-go transport (for the fetchers, the writers
// and the admin client) with these settings, also for plain TCP. Its
// partition leaders are at most MetadataTTL old: kafka-go's Transport
// reads them again only then (its default is 6 s), not when a request is
// refused for going to a former leader, so this bounds how long fetches
// and writes wait after a leader moved (a broker restart, a rolling
// upgrade).
func (s Security) Transport() (*kafka.Transport, error) {
	mech, _, err := s.settings()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{DialTimeout: defaultDialLimit, MetadataTTL: MetadataTTL, SASL: mech, TLS: s.TLS, ClientID: s.ClientID}, nil
}

// MetadataTTL is how old the partition leaders a transport routes by may
// get.
const MetadataTTL = time.Second

// dial opens one connection to a broker with these settings.
func (s Security) dial(ctx context.Context, addr string, timeout time.Duration) (*kafka.Conn, error) {
	d, err := s.Dialer()
	if err != nil {
		return nil, err
	}
	if d == nil {
		d = &kafka.Dialer{DualStack: true}
	}
	dd := *d
	dd.Timeout = timeout
	return dd.DialContext(ctx, "tcp", addr)
}

// Ping checks that at least one bootstrap broker accepts a connection with
// these settings (TLS handshake and SASL included) and answers a metadata
// request.
func (s Security) Ping(ctx context.Context, brokers []string) error {
	var last error
	for _, b := range brokers {
		conn, err := s.dial(ctx, b, 2*time.Second)
		if err != nil {
			last = err
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Brokers()
		_ = conn.Close()
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("kafka unreachable: %w", last)
}
