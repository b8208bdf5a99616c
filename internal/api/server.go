// Package api serves the read API of SPEC §11 and the live dashboard over
// HTTP: customers' public fields from Redis, the cohort statistics, the
// recent tier and segment changes from the output topics, health and
// Prometheus metrics. It only reads: it works with a Redis ACL user that
// may read nothing but ltv:* keys.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// MaxBatch is the most ids one batchGet request may name (SPEC §11).
const MaxBatch = 1000

// DefaultMaxBodyBytes bounds a request body: 2 MiB, so that MaxBatch ids
// of the longest allowed 256 bytes fit however a standard JSON encoder
// writes them. Go's encoding/json escapes each of < > & as six bytes
// (\u003c), Python's json.dumps each non-ASCII character (a two-byte é as
// the six of \u00e9): up to 1,539 bytes an id, 1.5 MB for 1,000, with room
// left for indentation. Under 1 MiB, such a valid batch was refused as too
// large.
const DefaultMaxBodyBytes = 2 << 20

// DefaultMaxBodyReads bounds how many request bodies are read at once, so
// that concurrent large or slowly arriving batchGet bodies hold at most
// DefaultMaxBodyReads × MaxBodyBytes (128 MiB with the default 2 MiB).
const DefaultMaxBodyReads = 64

// DefaultBodyReadWait is how long a request waits for one of the
// MaxBodyReads slots before it is answered 503.
const DefaultBodyReadWait = time.Second

// StatsSource gives the object GET /v1/stats returns: internal/stats's
// Provider, which caches it and bounds its cost (the API asks on every
// request).
type StatsSource interface {
	Stats(ctx context.Context) (*report.Stats, error)
}

// Config configures the server. Zero values take the defaults.
type Config struct {
	// Redis is the client customers are read with (store.NewClient). The
	// server only reads through it.
	Redis redis.UniversalClient
	// Stats serves GET /v1/stats; nil answers 503.
	Stats StatsSource
	// Changes serves GET /v1/changes; nil answers 503.
	Changes ChangesSource
	// CORSOrigins are the origins allowed to call /v1/ from a browser page
	// of another site ("*": any). Empty: no CORS headers at all.
	CORSOrigins []string
	// MaxBodyBytes bounds a request body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxBodyReads bounds how many request bodies (POST
	// /v1/customers:batchGet's) are being read at once, and with it the
	// memory they hold: at most MaxBodyReads × MaxBodyBytes. A request
	// that finds every slot taken waits for one for up to BodyReadWait (less
	// if it is cancelled first), then is answered 503 with Retry-After: 1
	// and its body unread. A slot is freed as soon as its body has been
	// read, before Redis is asked, so it is held for the time the client
	// takes to send the body (at most ReadTimeout). Requests without a
	// body (GET) never take one. Default DefaultMaxBodyReads (64).
	MaxBodyReads int
	// BodyReadWait is how long a request waits for a body slot (see
	// MaxBodyReads). Default DefaultBodyReadWait (1 s).
	BodyReadWait time.Duration
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server's. Defaults 5 s, 10 s, 30 s, 120 s.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Serve waits for requests in flight
	// once its context ends. Default 10 s.
	ShutdownTimeout time.Duration
	// HealthTimeout bounds the Redis ping of /healthz. Default 2 s.
	HealthTimeout time.Duration
	// RedisTimeout bounds the Redis reads of one request (with the client's
	// retries), so a hung Redis is a 503, not a connection the write
	// timeout cuts. Default 5 s.
	RedisTimeout time.Duration
	// StatsWait bounds how long a GET /v1/stats waits for a computation
	// of the statistics (a large population can take longer than the
	// server may take to write an answer): past it the request gets a 503
	// with Retry-After, and the computation goes on for later requests.
	// Default two thirds of WriteTimeout (20 s).
	StatsWait time.Duration
	// Logger receives errors the clients are told about only in brief.
	Logger *zap.Logger
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxBodyReads <= 0 {
		c.MaxBodyReads = DefaultMaxBodyReads
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 5*time.Second)
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.ShutdownTimeout, 10*time.Second)
	def(&c.HealthTimeout, 2*time.Second)
	def(&c.RedisTimeout, 5*time.Second)
	def(&c.StatsWait, c.WriteTimeout*2/3)
	def(&c.BodyReadWait, DefaultBodyReadWait)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Server is the read API's HTTP handler. It is safe for concurrent use.
type Server struct {
	cfg     Config
	redis   redis.UniversalClient
	ping    func(context.Context) error
	fields  []string
	hmget   []any // "HMGET", key placeholder, the public field names
	mux     *http.ServeMux
	metrics *Metrics
	anyCORS bool
	// bodies is the semaphore of the request bodies being read: one
	// token per body, Config.MaxBodyReads at most (see acquireBody).
	bodies chan struct{}
	// stopping ends when Serve's context does: waits that may outlast the
	// shutdown time (for the statistics) end with it, so requests in
	// flight are answered and Serve returns in time.
	stopping context.Context
	stop     context.CancelFunc
}

// New builds the server; it connects to nothing until a request comes.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Redis == nil {
		return nil, errors.New("api: no Redis client")
	}
	s := &Server{cfg: cfg, redis: cfg.Redis, ping: store.NewRedis(cfg.Redis, store.Config{}).Ping,
		fields: store.PublicFieldNames(), metrics: NewMetrics(), anyCORS: slices.Contains(cfg.CORSOrigins, "*"),
		bodies: make(chan struct{}, cfg.MaxBodyReads)}
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.hmget = make([]any, 0, 2+len(s.fields))
	s.hmget = append(s.hmget, "hmget", "")
	for _, f := range s.fields {
		s.hmget = append(s.hmget, f)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/customers/{id}", s.getCustomer)
	mux.HandleFunc("POST /v1/customers:batchGet", s.batchGet)
	mux.HandleFunc("GET /v1/stats", s.stats)
	mux.HandleFunc("GET /v1/changes", s.changes)
	mux.HandleFunc("GET /healthz", s.health)
	mux.Handle("GET /metrics", s.metrics.Handler())
	if len(cfg.CORSOrigins) > 0 {
		mux.HandleFunc("OPTIONS /v1/", s.preflight)
	}
	registerDashboard(mux)
	s.mux = mux
	return s, nil
}

// Metrics returns the server's collectors (served on /metrics).
func (s *Server) Metrics() *Metrics { return s.metrics }

// ServeHTTP routes a request, answers unknown paths and methods with a
// JSON error, and records the request's route, status and duration.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.cors(sw, r)
	route := "unmatched"
	if h, pattern := s.mux.Handler(r); pattern == "" {
		// The mux's own 404, 405 (with its Allow header) or redirect to the
		// cleaned path (with its Location: /v1/customers/. is
		// /v1/customers), in JSON.
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		for _, k := range []string{"Allow", "Location"} {
			if v := probe.header.Get(k); v != "" {
				sw.Header().Set(k, v)
			}
		}
		msg := "no such endpoint: " + r.URL.Path
		switch {
		case probe.code == http.StatusMethodNotAllowed:
			msg = fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)
		case probe.code >= 300 && probe.code < 400:
			msg = fmt.Sprintf("%s is %s once cleaned (escape . and .. in ids: %%2E)", r.URL.Path, probe.header.Get("Location"))
		}
		writeError(sw, probe.code, msg)
	} else {
		s.mux.ServeHTTP(sw, r)
		route = r.Pattern
	}
	s.metrics.observe(route, sw.status(), time.Since(start))
}

// cors sets the CORS response headers for an allowed Origin; nothing when
// CORS is off or the origin is not allowed (the browser then refuses the
// page the response).
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	if len(s.cfg.CORSOrigins) == 0 {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || (!s.anyCORS && !slices.Contains(s.cfg.CORSOrigins, origin)) {
		return
	}
	if s.anyCORS {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

// preflight answers a CORS preflight request.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("Access-Control-Allow-Origin") == "" {
		writeError(w, http.StatusForbidden, "origin "+strconv.Quote(r.Header.Get("Origin"))+" is not allowed (LTV_API_CORS_ORIGINS)")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully:
// it stops accepting, lets requests in flight finish for up to
// ShutdownTimeout (a /v1/stats request waiting for a computation is
// answered 503 at once), and returns nil. Any other end is an error. A
// Server is served once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(s.cfg.Logger),
		// Requests in flight when ctx ends are let finish (Shutdown waits
		// up to ShutdownTimeout for them): their contexts are not ctx's.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.stop()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// health answers 200 when Redis answers, 503 otherwise.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HealthTimeout)
	defer cancel()
	if err := s.ping(ctx); err != nil {
		s.cfg.Logger.Warn("health: redis unreachable", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "redis unreachable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// stats serves the cohort statistics.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Stats == nil {
		writeError(w, http.StatusServiceUnavailable, "statistics are not available on this server")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.StatsWait)
	defer cancel()
	defer context.AfterFunc(s.stopping, cancel)()
	st, err := s.cfg.Stats.Stats(ctx)
	if err != nil && s.stopping.Err() != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "statistics not ready: the server is shutting down; try again")
		return
	}
	if err != nil && ctx.Err() != nil && r.Context().Err() == nil {
		// Answer before the write timeout cuts the connection with no
		// answer at all; the computation goes on without this request.
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("statistics not ready: still being computed after %s; try again shortly", s.cfg.StatsWait))
		return
	}
	if err != nil {
		s.cfg.Logger.Warn("stats failed", zap.Error(err))
		if hint, refused := refusal(err); refused {
			writeError(w, http.StatusInternalServerError, "statistics unavailable: redis refused the read: "+err.Error()+hint)
			return
		}
		writeError(w, http.StatusServiceUnavailable, "statistics unavailable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
}

// writeError answers with {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// writeJSON answers with v as JSON; API answers are never cached.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"response not encodable as JSON"}`)
	}
	writeBody(w, code, append(body, '\n'))
}

// Header values every JSON answer shares (never modified: set as is, they
// cost no allocation per request).
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNoSniff = []string{"nosniff"}
)

// writeBody answers with a JSON body already encoded.
func writeBody(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNoSniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// headerProbe records what the mux's fallback handler would answer.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.code = code }
