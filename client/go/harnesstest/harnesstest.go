// Package harnesstest gives Go tests a phone number and its code through the gateway:
//
//	func TestSignup(t *testing.T) {
//		number := harnesstest.Acquire(t, "US", "whatsapp")
//		app.SignUp(number.Phone)
//		code := harnesstest.AwaitCode(t, number)  // t.Fatalf with the reason on failure
//		...
//	}
//
// The gateway: ISMSCODE_HARNESS_ADDR (with ISMSCODE_HARNESS_TOKEN, ISMSCODE_HARNESS_CA,
// and ISMSCODE_MOCK_URL for per-test accounts), else ismscode-gateway with its bundled
// mock, started on first use for the test binary (found by FindBinary; scenario
// ISMSCODE_HARNESS_SCENARIO, default ci-fast) and stopped by Run, or when the test
// binary exits. With a mock, every test gets its own mock account as its caller key, so
// parallel tests (t.Parallel) stay independent.
package harnesstest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ismscode/ismscode-harness/client/go/harness"
)

// Session is the gateway of a test binary.
type Session struct {
	Address     string
	MockURL     string // "" when no mock is known (e.g. the real API)
	StartedHere bool   // plaintext and open: the environment's token and TLS do not apply
	gateway     *Gateway
}

var (
	sessionOnce sync.Once
	session     *Session
	sessionErr  error
)

// CurrentSession is the test binary's gateway, opened on first use.
func CurrentSession(t testing.TB) *Session {
	t.Helper()
	sessionOnce.Do(func() {
		if address := os.Getenv("ISMSCODE_HARNESS_ADDR"); address != "" {
			session = &Session{Address: address, MockURL: os.Getenv("ISMSCODE_MOCK_URL")}
			return
		}
		g, err := StartGateway(os.Getenv("ISMSCODE_HARNESS_SCENARIO"))
		if err != nil {
			sessionErr = err
			return
		}
		session = &Session{Address: g.Address, MockURL: g.MockURL, StartedHere: true, gateway: g}
	})
	if sessionErr != nil {
		t.Fatalf("%v", sessionErr)
	}
	return session
}

// Run runs the tests and stops the gateway it started, for TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(harnesstest.Run(m)) }
func Run(m *testing.M) int {
	code := m.Run()
	if session != nil && session.gateway != nil {
		if died := session.gateway.Stop(); died != "" {
			fmt.Fprintln(os.Stderr, died)
		}
	}
	return code
}

// Harness is one test's: its own mock account (where there is a mock) and a client using
// it as its caller key. Its Acquire and AwaitCode fail the test (t.Fatalf) with the
// reason, the message and the last heartbeat, so, like t.Fatalf, they belong on the
// test's own goroutine; elsewhere use Client, which returns errors.
type Harness struct {
	t       testing.TB
	Client  *harness.Client
	Account string // "" without a mock
	MockURL string
}

// perTest holds each running test's Harness; an entry's once makes concurrent first
// calls for one test share one account and client.
type entry struct {
	once sync.Once
	h    *Harness
	err  error
}

var (
	perTestMu sync.Mutex
	perTest   = map[testing.TB]*entry{}
)

// For is t's Harness, made on first use and closed when t ends.
func For(t testing.TB) *Harness {
	t.Helper()
	perTestMu.Lock()
	e, ok := perTest[t]
	if !ok {
		e = &entry{}
		perTest[t] = e
		t.Cleanup(func() {
			perTestMu.Lock()
			delete(perTest, t)
			perTestMu.Unlock()
			if e.h != nil {
				e.h.Client.Close()
			}
		})
	}
	perTestMu.Unlock()
	e.once.Do(func() { e.h, e.err = open(t) })
	if e.err != nil {
		t.Fatalf("harnesstest: %v", e.err)
	}
	return e.h
}

func open(t testing.TB) (*Harness, error) {
	s := CurrentSession(t)
	h := &Harness{t: t, MockURL: s.MockURL}
	ctx := context.Background()
	if s.MockURL != "" {
		account, err := CreateMockAccount(ctx, s.MockURL)
		if err != nil {
			return nil, err
		}
		h.Account = account
	}
	client, err := harness.Dial(ctx, harness.Options{Address: s.Address, CallerKey: h.Account,
		IgnoreEnvironment: s.StartedHere})
	if err != nil {
		return nil, err
	}
	h.Client = client
	return h, nil
}

func first[T any](options []T) T {
	var zero T
	if len(options) == 0 {
		return zero
	}
	return options[0]
}

// Acquire is a fresh number; a failure ends the test.
func (h *Harness) Acquire(country, service string, options ...harness.AcquireOptions) *harness.Number {
	h.t.Helper()
	n, err := h.Client.Acquire(context.Background(), country, service, first(options))
	if err != nil {
		h.t.Fatalf("%s", failure(fmt.Sprintf("Acquire(%s, %s)", country, service), err))
	}
	return n
}

// AwaitCode is the number's code; a failure ends the test.
func (h *Harness) AwaitCode(number *harness.Number, options ...harness.AwaitOptions) *harness.Code {
	h.t.Helper()
	c, err := h.Client.AwaitCode(context.Background(), number.ID, first(options))
	if err != nil {
		h.t.Fatalf("%s", failure(fmt.Sprintf("AwaitCode(%s)", number.Phone), err))
	}
	return c
}

func failure(call string, err error) string {
	return fmt.Sprintf("harnesstest: %s failed: %v", call, err)
}

// Acquire is For(t).Acquire: a fresh number on t's own account.
func Acquire(t testing.TB, country, service string, options ...harness.AcquireOptions) *harness.Number {
	t.Helper()
	return For(t).Acquire(country, service, options...)
}

// AwaitCode is For(t).AwaitCode.
func AwaitCode(t testing.TB, number *harness.Number, options ...harness.AwaitOptions) *harness.Code {
	t.Helper()
	return For(t).AwaitCode(number, options...)
}

// Client is t's client (For(t).Client), for everything else.
func Client(t testing.TB) *harness.Client {
	t.Helper()
	return For(t).Client
}
