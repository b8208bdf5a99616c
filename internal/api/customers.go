// Customers: one customer's public fields, or many in one pipelined round
// trip, encoded straight from Redis's replies into a pooled buffer.

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// bufPool holds response buffers: a customer is about 600 bytes of JSON,
// a batch of 1,000 about 600 kB.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled keeps a buffer grown by one large batch from staying pinned.
const maxPooled = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// getCustomer answers GET /v1/customers/{id}: the public fields, 404 when
// Redis holds none for the id.
func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := decode.CheckCustomerID(id); err != nil {
		writeError(w, http.StatusBadRequest, "invalid customer id: "+err.Error())
		return
	}
	cmd := s.hmgetCmd(r, id)
	if err := s.redis.Process(r.Context(), cmd); err != nil {
		s.redisFailed(w, err)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	out, found := store.AppendPublicJSON(*buf, s.fields, cmd.Val())
	*buf = out
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown customer %q", id))
		return
	}
	*buf = append(*buf, '\n')
	writeBody(w, http.StatusOK, *buf)
}

// hmgetCmd is an HMGET of the public fields of one customer. Its reply is
// read as strings, an absent field as "" (the updater never stores an
// empty public field), which spares boxing every value.
func (s *Server) hmgetCmd(r *http.Request, id string) *redis.StringSliceCmd {
	args := make([]any, len(s.hmget))
	copy(args, s.hmget)
	args[1] = store.Key(id)
	return redis.NewStringSliceCmd(r.Context(), args...)
}

// batchRequest is the body of POST /v1/customers:batchGet.
type batchRequest struct {
	IDs []string `json:"ids"`
}

// batchGet answers POST /v1/customers:batchGet: {"customers": {id: the
// public fields, in the order asked (an id named twice once)}, "missing":
// [ids Redis has no customer for]}.
func (s *Server) batchGet(w http.ResponseWriter, r *http.Request) {
	ids, code, err := s.readBatch(w, r)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	cmds := make([]*redis.StringSliceCmd, len(ids))
	_, err = s.redis.Pipelined(r.Context(), func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = s.hmgetCmd(r, id)
			_ = p.Process(r.Context(), cmds[i])
		}
		return nil
	})
	if err != nil {
		s.redisFailed(w, err)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	out := append(*buf, `{"customers":{`...)
	var missing []string
	n := 0
	for i, id := range ids {
		mark := len(out)
		if n > 0 {
			out = append(out, ',')
		}
		out = store.AppendJSONText(out, id)
		out = append(out, ':')
		var found bool
		if out, found = store.AppendPublicJSON(out, s.fields, cmds[i].Val()); !found {
			out = out[:mark]
			missing = append(missing, id)
			continue
		}
		n++
	}
	out = append(out, `},"missing":[`...)
	for i, id := range missing {
		if i > 0 {
			out = append(out, ',')
		}
		out = store.AppendJSONText(out, id)
	}
	out = append(out, "]}\n"...)
	*buf = out
	writeBody(w, http.StatusOK, out)
}

// readBatch reads and checks a batchGet body: JSON, bounded in size, at
// most MaxBatch valid ids, duplicates dropped.
func (s *Server) readBatch(w http.ResponseWriter, r *http.Request) ([]string, int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: send application/json", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	var req batchRequest
	if err := dec.Decode(&req); err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", mb.Limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("body is not {\"ids\": [\"…\"]}: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, http.StatusBadRequest, errors.New(`body is not {"ids": ["…"]}: data after the JSON object`)
	}
	switch {
	case req.IDs == nil:
		return nil, http.StatusBadRequest, errors.New(`body is not {"ids": ["…"]}: no "ids"`)
	case len(req.IDs) == 0:
		return nil, http.StatusBadRequest, errors.New(`"ids" is empty`)
	case len(req.IDs) > MaxBatch:
		return nil, http.StatusBadRequest, fmt.Errorf(`"ids" names %d customers; at most %d per request`, len(req.IDs), MaxBatch)
	}
	ids := req.IDs[:0]
	seen := make(map[string]struct{}, len(req.IDs))
	for i, id := range req.IDs {
		if err := decode.CheckCustomerID(id); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("ids[%d]: %w", i, err)
		}
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
	}
	return ids, 0, nil
}

// redisFailed answers a request whose Redis read failed: a refusal by
// Redis (an error reply, such as NOPERM from an ACL) is 500, anything else
// (unreachable, timed out) 503.
func (s *Server) redisFailed(w http.ResponseWriter, err error) {
	s.cfg.Logger.Warn("redis read failed", zap.Error(err))
	var reply redis.Error
	if errors.As(err, &reply) && !errors.Is(err, redis.ErrClosed) {
		msg := "redis refused the read: " + err.Error()
		if strings.HasPrefix(err.Error(), "NOPERM") {
			msg += " (the ACL user needs read access to ltv:*: see docs/read-api.md)"
		}
		writeError(w, http.StatusInternalServerError, msg)
		return
	}
	writeError(w, http.StatusServiceUnavailable, "redis unavailable: "+err.Error())
}
