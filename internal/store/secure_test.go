// Tests of the client's security settings against real servers: ACL users,
// passwords kept out of errors and logs, TLS.

package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// roundTrip writes one customer through the store and reads it back: the
// scripts, pipelines and reads all work on this connection.
func roundTrip(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	st := store.NewRedis(client, store.Config{})
	if err := st.LoadScripts(ctxT(t)); err != nil {
		t.Fatalf("load scripts: %v", err)
	}
	w, conflicts := applyAndWrite(t, st, aggregate.DefaultModel(), "c-secure",
		[]aggregate.Event{order("e1", "c-secure", "1200.00", "", "2025-01-01T00:00:00Z")}, 0)
	if len(conflicts) != 0 {
		t.Fatalf("conflicts %v", conflicts)
	}
	snaps, errs, err := st.Load(ctxT(t), []string{"c-secure"})
	if err != nil || errs[0] != nil {
		t.Fatalf("load: %v %v", err, errs[0])
	}
	if snaps[0].Token != w.Token || snaps[0].State.Orders != 1 {
		t.Fatalf("read back token %q orders %d", snaps[0].Token, snaps[0].State.Orders)
	}
}

// TestACLUserAndPassword: an ACL user restricted to the ltv: key prefix
// (SPEC §3 keeps everything there) is enough for the service; the
// password can come from the URL or from Config; a wrong one fails
// without appearing in the error.
func TestACLUserAndPassword(t *testing.T) {
	srv := testutil.StartRedis(t, "--requirepass", "default-secret")
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "default-secret"})
	defer admin.Close()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "ltv", "on", ">ltv-secret-pw", "~ltv:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  store.Config
	}{
		{"credentials in the URL", store.Config{URL: "redis://ltv:ltv-secret-pw@" + srv.Addr() + "/0"}},
		{"credentials from config", store.Config{URL: "redis://" + srv.Addr() + "/0", Username: "ltv", Password: "ltv-secret-pw"}},
		{"config overrides a stale URL password", store.Config{URL: "redis://ltv:old@" + srv.Addr() + "/0", Password: "ltv-secret-pw"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, err := store.NewClient(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			roundTrip(t, client)
		})
	}

	client, err := store.NewClient(store.Config{URL: "redis://" + srv.Addr() + "/0", Username: "ltv", Password: "wrong-pw-123"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	err = store.NewRedis(client, store.Config{}).Ping(ctx)
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	if strings.Contains(err.Error(), "wrong-pw-123") {
		t.Errorf("error reveals the password: %v", err)
	}
	if got := store.RedactURL("redis://ltv:ltv-secret-pw@h1:7000,rediss://u:p2@h2:7001"); strings.Contains(got, "ltv-secret-pw") || strings.Contains(got, "p2@") {
		t.Errorf("RedactURL leaks: %s", got)
	}
}

// TestTLSConnection: rediss:// with the CA from a file (as the service
// configures it) against redis-server's TLS port.
func TestTLSConnection(t *testing.T) {
	certs := testutil.NewTestTLS(t)
	tlsPort := testutil.FreePort(t)
	srv := testutil.StartRedis(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certs.CertFile,
		"--tls-key-file", certs.KeyFile, "--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", "no")
	_ = srv
	url := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort) + "/0"
	client, err := store.NewClient(store.Config{URL: url, TLS: certs.ClientConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	roundTrip(t, client)

	// Without the CA the server's certificate is not trusted.
	untrusted, err := store.NewClient(store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	if err := untrusted.Ping(context.Background()).Err(); err == nil {
		t.Fatal("TLS connection without the CA succeeded")
	}
}

// TestMalformedURLsKeepTheirSecrets: a URL that does not parse, or a
// cluster list whose nodes differ in scheme or credentials, is an error
// that names no part of the password.
func TestMalformedURLsKeepTheirSecrets(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"redis://u:S3C%RET@h:1/0", "not a valid URL"},
		{"redis://u:S3C%RET@host:abc/0", "not a valid URL"},
		{"redis://u:S3C%RET@h1:1,redis://u:S3C%RET@h2:abc", "not a valid URL"},
		{"redis://u:S3CRET1@h:1/abc", "invalid database"},
		{"redis://h1:1,rediss://u:S3CRET1@h2:2", "scheme (redis:// or rediss://) and credentials must be those of the first"},
		{"redis://u:S3CRET1@h1:1,redis://u:S3CRET2@h2:2", "credentials must be those of the first"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := store.NewClient(store.Config{URL: tc.url})
			if err == nil {
				_ = c.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			for _, secret := range []string{"S3C", "RET", "%RE"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals part of the password (%q)", err, secret)
				}
			}
		})
	}
}
