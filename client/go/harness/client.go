// Package harness is the Go client of the ismscode-harness gateway: a phone number for a
// signup test, and the code texted to it.
//
//	client, err := harness.Dial(ctx, harness.Options{}) // ISMSCODE_HARNESS_ADDR, ...
//	number, err := client.Acquire(ctx, "US", "whatsapp", harness.AcquireOptions{})
//	code, err := client.AwaitCode(ctx, number.ID, harness.AwaitOptions{Timeout: time.Minute})
//
// Every error is a *Error; errors.Is(err, harness.ReasonCodeWaitTimeout) tests its reason.
// Cancel a call through its context.
package harness

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/ismscode/ismscode-harness/client/go/internal/pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultAddress is the gateway's address when neither Options nor the environment give one.
const DefaultAddress = "127.0.0.1:50051"

const (
	defaultAwait   = 120 * time.Second
	streamMargin   = 15 * time.Second // the gateway's own timeout answers first
	acquireMargin  = 30 * time.Second
	longestWait    = 365 * 24 * time.Hour // longer waits are taken as a year
	defaultConnect = 5 * time.Second
	defaultList    = 30 * time.Second
)

// Options says where the gateway is. Empty fields come from the environment unless
// IgnoreEnvironment: ISMSCODE_HARNESS_ADDR, ISMSCODE_HARNESS_TOKEN, ISMSCODE_HARNESS_CA
// (a PEM CA: TLS) and ISMSCODE_HARNESS_CALLER_KEY.
type Options struct {
	Address           string
	Token             string // the gateway's caller token
	TLSCAFile         string // trust this PEM CA: TLS
	TLS               bool   // TLS with the system's roots
	CallerKey         string // your own upstream key (x-ismscode-api-key)
	IgnoreEnvironment bool
	// How long Dial waits for the gateway (default 5 s; negative: it does not wait, and the
	// first call reports an unreachable gateway).
	ConnectTimeout time.Duration
	ListTimeout    time.Duration // deadline of ListCountries and ListServices (default 30 s)
}

// AcquireOptions are AcquireNumber's optional fields.
type AcquireOptions struct {
	FallbackCountries []string
	// The idempotency key; generated when empty and returned in Number.RequestID.
	RequestID string
	// How long the gateway retries stock-outs and upstream failures (0: once).
	MaxWait time.Duration
	// The call's own deadline (default MaxWait + 30 s); the context's may be sooner.
	Deadline time.Duration
}

// AwaitOptions are AwaitCode's optional fields.
type AwaitOptions struct {
	Timeout       time.Duration // default: the gateway's (120 s)
	CodePattern   string        // an RE2 the code must match; its first group is the code
	SenderPattern string        // an RE2 the sender must match
	MinCodeLength int
	MaxCodeLength int
	ReceivedAfter time.Time // only SMS received after it (e.g. a resend); zero: any
	// When your app sent the SMS, if you know: a busy key's polls are planned from it.
	// Zero: from when the wait began.
	SmsSentAt   time.Time
	Follow      bool // every code until the timeout, not only the first
	OnHeartbeat func(Heartbeat)
}

// Client is a client of one gateway, safe for concurrent use. Close it when done.
type Client struct {
	address     string
	conn        *grpc.ClientConn
	stub        pb.VerificationServiceClient
	md          metadata.MD
	listTimeout time.Duration
	closeOnce   sync.Once
}

// NewRequestID is a fresh idempotency key: "req-" and 32 random hex digits.
func NewRequestID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("harness: no randomness: " + err.Error())
	}
	return "req-" + hex.EncodeToString(b)
}

func checkDuration(d time.Duration, option, field string) (time.Duration, error) {
	if d < 0 {
		return 0, invalidArgument(option, "must not be negative", field)
	}
	if d > longestWait {
		return longestWait, nil
	}
	return d, nil
}

// Dial connects to the gateway and, unless opts.ConnectTimeout is negative, waits until
// it answers; an unreachable gateway is a GATEWAY_UNAVAILABLE error naming the address.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	env := func(name string) string {
		if opts.IgnoreEnvironment {
			return ""
		}
		return os.Getenv(name)
	}
	c := &Client{address: opts.Address, md: metadata.MD{}, listTimeout: opts.ListTimeout}
	if c.address == "" {
		c.address = env("ISMSCODE_HARNESS_ADDR")
	}
	if c.address == "" {
		c.address = DefaultAddress
	}
	if c.listTimeout <= 0 {
		c.listTimeout = defaultList
	}
	token, caFile, callerKey := opts.Token, opts.TLSCAFile, opts.CallerKey
	if token == "" {
		token = env("ISMSCODE_HARNESS_TOKEN")
	}
	if caFile == "" {
		caFile = env("ISMSCODE_HARNESS_CA")
	}
	if callerKey == "" {
		callerKey = env("ISMSCODE_HARNESS_CALLER_KEY")
	}
	// gRPC refuses other metadata bytes, and its error would quote the secret.
	for _, secret := range []struct{ value, option, field string }{
		{token, "Token", "token"}, {callerKey, "CallerKey", "caller_key"}} {
		for _, ch := range []byte(secret.value) {
			if ch < 0x20 || ch > 0x7e {
				return nil, invalidArgument(secret.option, "must be printable ASCII (no line breaks)",
					secret.field)
			}
		}
	}
	if token != "" {
		c.md.Set("authorization", "Bearer "+token)
	}
	if callerKey != "" {
		c.md.Set("x-ismscode-api-key", callerKey)
	}
	transport := grpc.WithInsecure()
	switch {
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, invalidArgument("TLSCAFile", fmt.Sprintf("cannot be read: %v", err), "tls_ca_file")
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, invalidArgument("TLSCAFile", "holds no PEM certificate: "+caFile, "tls_ca_file")
		}
		transport = grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(roots, ""))
	case opts.TLS:
		transport = grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(nil, ""))
	}
	connect := opts.ConnectTimeout
	if connect == 0 {
		connect = defaultConnect
	}
	dialOpts := []grpc.DialOption{transport}
	dialCtx := ctx
	if connect > 0 {
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithTimeout(ctx, connect)
		defer cancel()
		// Blocks, and a refused TLS handshake then says so, not only "timed out".
		dialOpts = append(dialOpts, grpc.WithReturnConnectionError())
	}
	conn, err := grpc.DialContext(dialCtx, c.address, dialOpts...)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, &Error{Reason: ReasonCancelled, Code: codes.Canceled,
				Message: "the dial was cancelled"}
		}
		// The caller's deadline or ConnectTimeout: either way the gateway did not answer.
		return nil, &Error{Reason: ReasonGatewayUnavailable, Code: codes.Unavailable,
			Message: fmt.Sprintf("cannot reach the gateway at %s within %v (%v): start it "+
				"(scripts/run) or set ISMSCODE_HARNESS_ADDR", c.address, connect, err)}
	}
	c.conn = conn
	c.stub = pb.NewVerificationServiceClient(conn)
	return c, nil
}

// Address is the gateway's HOST:PORT.
func (c *Client) Address() string { return c.address }

// Close ends the connection; calls still running fail with CANCELLED. Closing again
// does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.conn.Close() })
	return nil
}

func (c *Client) callContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx = metadata.NewOutgoingContext(ctx, c.md)
	return context.WithTimeout(ctx, timeout)
}

// failure is the typed error of a failed call; a context the caller cancelled is CANCELLED.
func (c *Client) failure(ctx context.Context, err error, last *Heartbeat) *Error {
	e := fromRPC(err, c.address, last)
	if e.Code == codes.Canceled && errors.Is(ctx.Err(), context.Canceled) {
		e.Reason = ReasonCancelled
	}
	return e
}

// ListCountries is the countries the upstream sells numbers in.
func (c *Client) ListCountries(ctx context.Context) ([]Country, error) {
	callCtx, cancel := c.callContext(ctx, c.listTimeout)
	defer cancel()
	r, err := c.stub.ListCountries(callCtx, &pb.ListCountriesRequest{})
	if err != nil {
		return nil, c.failure(ctx, err, nil)
	}
	out := make([]Country, 0, len(r.GetCountries()))
	for _, country := range r.GetCountries() {
		out = append(out, Country{country.GetCode(), country.GetName(), country.GetDialPrefix()})
	}
	return out, nil
}

// ListServices is the services (lower-case slugs) the upstream sells numbers for.
func (c *Client) ListServices(ctx context.Context) ([]string, error) {
	callCtx, cancel := c.callContext(ctx, c.listTimeout)
	defer cancel()
	r, err := c.stub.ListServices(callCtx, &pb.ListServicesRequest{})
	if err != nil {
		return nil, c.failure(ctx, err, nil)
	}
	return r.GetServices(), nil
}

// Acquire buys a number. After UPSTREAM_TIMEOUT, repeat with the same RequestID (the
// returned Number's, or the error's request): nothing is bought twice.
func (c *Client) Acquire(ctx context.Context, country, service string, opts AcquireOptions) (*Number, error) {
	maxWait, err := checkDuration(opts.MaxWait, "MaxWait", "max_wait")
	if err != nil {
		return nil, err
	}
	deadline, err := checkDuration(opts.Deadline, "Deadline", "deadline")
	if err != nil {
		return nil, err
	}
	if deadline == 0 {
		deadline = maxWait + acquireMargin
	}
	request := &pb.AcquireNumberRequest{Country: country, Service: service,
		FallbackCountries: opts.FallbackCountries, RequestId: opts.RequestID}
	if request.RequestId == "" {
		request.RequestId = NewRequestID()
	}
	if maxWait > 0 {
		request.MaxWait = durationpb.New(maxWait)
	}
	callCtx, cancel := c.callContext(ctx, deadline)
	defer cancel()
	r, err := c.stub.AcquireNumber(callCtx, request)
	if err != nil {
		e := c.failure(ctx, err, nil)
		e.RequestID = request.RequestId
		return nil, e
	}
	n := r.GetNumber()
	return &Number{ID: n.GetId(), Phone: n.GetPhone(), Country: n.GetCountry(),
		Service: n.GetService(), ExpiresAt: n.GetExpiresAt().AsTime(), Attempts: int(r.GetAttempts()),
		Replayed: r.GetReplayed(), RequestID: request.RequestId}, nil
}

// CodeStream is one AwaitCode stream: Next until io.EOF (or an error). Close it when
// leaving early: the gateway then stops polling for it.
type CodeStream struct {
	client *Client
	ctx    context.Context // the caller's
	cancel context.CancelFunc
	stream pb.VerificationService_AwaitCodeClient
	last   *Heartbeat
}

// Stream opens the AwaitCode stream itself.
func (c *Client) Stream(ctx context.Context, numberID string, opts AwaitOptions) (*CodeStream, error) {
	timeout, err := checkDuration(opts.Timeout, "Timeout", "timeout")
	if err != nil {
		return nil, err
	}
	for _, l := range []struct {
		value         int
		option, field string
	}{{opts.MinCodeLength, "MinCodeLength", "min_code_length"},
		{opts.MaxCodeLength, "MaxCodeLength", "max_code_length"}} {
		if l.value < 0 || l.value > math.MaxInt32 {
			return nil, invalidArgument(l.option, "must be a non-negative int32", l.field)
		}
	}
	request := &pb.AwaitCodeRequest{NumberId: numberID, CodePattern: opts.CodePattern,
		SenderPattern: opts.SenderPattern, MinCodeLength: int32(opts.MinCodeLength),
		MaxCodeLength: int32(opts.MaxCodeLength), Follow: opts.Follow}
	if timeout > 0 {
		request.Timeout = durationpb.New(timeout)
	}
	for _, t := range []struct {
		value  time.Time
		into   **timestamppb.Timestamp
		option string
		field  string
	}{{opts.ReceivedAfter, &request.ReceivedAfter, "ReceivedAfter", "received_after"},
		{opts.SmsSentAt, &request.SmsSentAt, "SmsSentAt", "sms_sent_at"}} {
		if t.value.IsZero() {
			continue
		}
		if *t.into = timestamppb.New(t.value); (*t.into).CheckValid() != nil {
			return nil, invalidArgument(t.option, "must be between the years 1 and 9999", t.field)
		}
	}
	if timeout == 0 {
		timeout = defaultAwait
	}
	callCtx, cancel := c.callContext(ctx, timeout+streamMargin)
	stream, err := c.stub.AwaitCode(callCtx, request)
	if err != nil {
		cancel()
		return nil, c.failure(ctx, err, nil)
	}
	return &CodeStream{client: c, ctx: ctx, cancel: cancel, stream: stream}, nil
}

// Next is the stream's next event (a *Heartbeat or a *Code); io.EOF at its end.
func (s *CodeStream) Next() (Event, error) {
	for {
		event, err := s.stream.Recv()
		if err == io.EOF {
			s.cancel()
			return nil, io.EOF
		}
		if err != nil {
			s.cancel()
			return nil, s.client.failure(s.ctx, err, s.last)
		}
		if w := event.GetWaiting(); w != nil {
			s.last = &Heartbeat{Polls: int(w.GetPolls()), NextPollAt: w.GetNextPollAt().AsTime(),
				ExpiresAt: w.GetExpiresAt().AsTime(), LastUpstreamError: w.GetLastUpstreamError(),
				WaitingForBudget: w.GetWaitingForBudget()}
			return s.last, nil
		}
		if r := event.GetCodeReceived(); r != nil {
			return &Code{Code: r.GetCode(), RawMatch: r.GetRawMatch(), Sms: Sms{From: r.GetSms().GetFrom(),
				Text: r.GetSms().GetText(), ReceivedAt: r.GetSms().GetReceivedAt().AsTime()}}, nil
		}
		// An event this client predates: skip it.
	}
}

// LastHeartbeat is the latest progress report (nil before the first).
func (s *CodeStream) LastHeartbeat() *Heartbeat { return s.last }

// Close ends the stream; harmless on a finished one.
func (s *CodeStream) Close() { s.cancel() }

// AwaitCode is the number's first code, or the typed error (CODE_WAIT_TIMEOUT,
// NUMBER_EXPIRED, ...) carrying the last heartbeat.
func (c *Client) AwaitCode(ctx context.Context, numberID string, opts AwaitOptions) (*Code, error) {
	opts.Follow = false
	var first *Code
	last, err := c.each(ctx, numberID, opts, func(code *Code) bool {
		first = code
		return false // the gateway ends the stream after the first code anyway
	})
	if err != nil || first != nil {
		return first, err
	}
	return nil, &Error{Reason: ReasonUnknown, Code: codes.Unknown,
		Message: "the stream ended without a code", LastHeartbeat: last}
}

// AwaitCodes is every code until the timeout (follow), in arrival order; onCode, when
// not nil, sees each as it comes.
func (c *Client) AwaitCodes(ctx context.Context, numberID string, opts AwaitOptions,
	onCode func(Code)) ([]Code, error) {
	opts.Follow = true
	var all []Code
	_, err := c.each(ctx, numberID, opts, func(code *Code) bool {
		all = append(all, *code)
		if onCode != nil {
			onCode(*code)
		}
		return true
	})
	return all, err
}

// each reads a stream to its end, or until onCode returns false: heartbeats go to
// opts.OnHeartbeat, codes to onCode. It returns the last heartbeat.
func (c *Client) each(ctx context.Context, numberID string, opts AwaitOptions,
	onCode func(*Code) bool) (*Heartbeat, error) {
	s, err := c.Stream(ctx, numberID, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for {
		event, err := s.Next()
		if err == io.EOF {
			return s.last, nil
		}
		if err != nil {
			return s.last, err
		}
		switch e := event.(type) {
		case *Heartbeat:
			if opts.OnHeartbeat != nil {
				opts.OnHeartbeat(*e)
			}
		case *Code:
			if !onCode(e) {
				return s.last, nil
			}
		}
	}
}
