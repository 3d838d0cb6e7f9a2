package harness_test

// The Go client at its edges, and the harnesstest helpers, against the test binary's
// gateway: ISMSCODE_HARNESS_ADDR (with ISMSCODE_MOCK_URL) or one harnesstest starts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ismscode/ismscode-harness/client/go/harness"
	"github.com/ismscode/ismscode-harness/client/go/harnesstest"
	"google.golang.org/grpc/codes"
)

const never = `never (\d{12})` // a pattern no SMS matches: the wait goes on

func TestMain(m *testing.M) { os.Exit(harnesstest.Run(m)) }

func portNobodyListensOn(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func asError(t *testing.T, err error, reason harness.Reason) *harness.Error {
	t.Helper()
	var e *harness.Error
	if !errors.As(err, &e) || !errors.Is(err, reason) {
		t.Fatalf("want a %s error, got %v", reason, err)
	}
	return e
}

func addFault(t *testing.T, mockURL string, fault map[string]interface{}) {
	t.Helper()
	body, _ := json.Marshal(fault)
	resp, err := http.Post(mockURL+"/_mock/v1/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		text, _ := io.ReadAll(resp.Body)
		t.Fatalf("fault: %d %s", resp.StatusCode, text)
	}
}

func TestUnreachableGatewayNamesTheAddress(t *testing.T) {
	address := fmt.Sprintf("127.0.0.1:%d", portNobodyListensOn(t))
	_, err := harness.Dial(context.Background(), harness.Options{Address: address,
		ConnectTimeout: 300 * time.Millisecond, IgnoreEnvironment: true})
	e := asError(t, err, harness.ReasonGatewayUnavailable)
	if !strings.Contains(e.Error(), address) || !strings.Contains(e.Error(), "ISMSCODE_HARNESS_ADDR") {
		t.Errorf("the message does not say where it tried: %v", e)
	}
	lazy, err := harness.Dial(context.Background(), harness.Options{Address: address,
		ConnectTimeout: -1, IgnoreEnvironment: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	_, err = lazy.ListCountries(context.Background())
	if e := asError(t, err, harness.ReasonGatewayUnavailable); !strings.Contains(e.Message, address) {
		t.Errorf("the message does not name %s: %v", address, e)
	}
}

func TestBadInputIsInvalidArgumentNamingTheRequestField(t *testing.T) {
	ctx := context.Background()
	client, err := harness.Dial(ctx, harness.Options{Address: "127.0.0.1:1", ConnectTimeout: -1,
		IgnoreEnvironment: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	calls := map[string]func() error{
		"max_wait": func() error {
			_, err := client.Acquire(ctx, "US", "whatsapp", harness.AcquireOptions{MaxWait: -time.Second})
			return err
		},
		"deadline": func() error {
			_, err := client.Acquire(ctx, "US", "whatsapp", harness.AcquireOptions{Deadline: -1})
			return err
		},
		"timeout": func() error {
			_, err := client.AwaitCode(ctx, "num_1", harness.AwaitOptions{Timeout: -5 * time.Second})
			return err
		},
		"min_code_length": func() error {
			_, err := client.AwaitCode(ctx, "num_1", harness.AwaitOptions{MinCodeLength: -1})
			return err
		},
		"max_code_length": func() error {
			_, err := client.AwaitCode(ctx, "num_1", harness.AwaitOptions{MaxCodeLength: 1 << 40})
			return err
		},
	}
	for field, call := range calls {
		e := asError(t, call(), harness.ReasonInvalidArgument)
		if e.Code != codes.InvalidArgument || len(e.BadFields) != 1 || e.BadFields[0].Field != field {
			t.Errorf("%s: %v", field, e)
		}
	}
	_, err = harness.Dial(ctx, harness.Options{TLSCAFile: "/nonexistent/ca.pem", IgnoreEnvironment: true})
	if e := asError(t, err, harness.ReasonInvalidArgument); !strings.Contains(e.Error(), "/nonexistent/ca.pem") {
		t.Errorf("the message does not name the file: %v", e)
	}
}

func TestTheAddressComesFromTheEnvironmentUnlessGiven(t *testing.T) {
	t.Setenv("ISMSCODE_HARNESS_ADDR", "127.0.0.1:1")
	for _, c := range []struct {
		options harness.Options
		want    string
	}{
		{harness.Options{}, "127.0.0.1:1"},
		{harness.Options{Address: "127.0.0.1:2"}, "127.0.0.1:2"},
		{harness.Options{IgnoreEnvironment: true}, harness.DefaultAddress},
	} {
		c.options.ConnectTimeout = -1
		client, err := harness.Dial(context.Background(), c.options)
		if err != nil {
			t.Fatal(err)
		}
		if client.Address() != c.want {
			t.Errorf("%+v: address %s, want %s", c.options, client.Address(), c.want)
		}
		client.Close()
	}
}

func TestRequestIDsAreFresh(t *testing.T) {
	seen := map[string]bool{}
	format := regexp.MustCompile(`^req-[0-9a-f]{32}$`)
	for i := 0; i < 1000; i++ {
		id := harness.NewRequestID()
		if seen[id] || !format.MatchString(id) {
			t.Fatalf("request id %q repeated or malformed", id)
		}
		seen[id] = true
	}
}

func TestListsANumberAndItsCode(t *testing.T) {
	ctx := context.Background()
	client := harnesstest.Client(t)
	countries, err := client.ListCountries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !containsCountry(countries, harness.Country{Code: "US", Name: "United States", DialPrefix: "+1"}) {
		t.Errorf("no US in %v", countries)
	}
	services, err := client.ListServices(ctx)
	if err != nil || !contains(services, "whatsapp") {
		t.Fatalf("services %v, %v", services, err)
	}
	number := harnesstest.Acquire(t, "US", "whatsapp")
	if !regexp.MustCompile(`^\+1\d{10}$`).MatchString(number.Phone) || !strings.HasPrefix(number.RequestID, "req-") ||
		!number.ExpiresAt.After(time.Now()) {
		t.Errorf("number %+v", number)
	}
	var beats []harness.Heartbeat
	code := harnesstest.AwaitCode(t, number, harness.AwaitOptions{Timeout: time.Minute,
		OnHeartbeat: func(h harness.Heartbeat) { beats = append(beats, h) }})
	if !regexp.MustCompile(`^[0-9A-Za-z]{4,8}$`).MatchString(code.Code) ||
		!strings.Contains(code.Sms.Text, code.RawMatch) || code.Sms.ReceivedAt.IsZero() {
		t.Errorf("code %+v", code)
	}
}

func containsCountry(list []harness.Country, c harness.Country) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestAGeneratedRequestIDReplays(t *testing.T) {
	first := harnesstest.Acquire(t, "US", "telegram")
	again := harnesstest.Acquire(t, "US", "telegram", harness.AcquireOptions{RequestID: first.RequestID})
	if !again.Replayed || again.ID != first.ID || again.Attempts != 0 {
		t.Errorf("replay %+v of %+v", again, first)
	}
}

func TestGatewayErrorsAreTyped(t *testing.T) {
	ctx := context.Background()
	h := harnesstest.For(t)
	_, err := h.Client.Acquire(ctx, "US", "no-such-service", harness.AcquireOptions{})
	asError(t, err, harness.ReasonInvalidService)
	_, err = h.Client.Acquire(ctx, "", "whatsapp", harness.AcquireOptions{})
	if e := asError(t, err, harness.ReasonInvalidArgument); len(e.BadFields) != 1 || e.BadFields[0].Field != "country" {
		t.Errorf("bad fields %v", e.BadFields)
	}
	_, err = h.Client.AwaitCode(ctx, "num_nope", harness.AwaitOptions{})
	if e := asError(t, err, harness.ReasonNumberNotFound); e.Code != codes.NotFound {
		t.Errorf("code %v", e.Code)
	}
	if h.MockURL == "" {
		t.Skip("no mock behind this gateway")
	}
	addFault(t, h.MockURL, map[string]interface{}{"kind": "no_numbers_available", "key": h.Account, "count": 1})
	_, err = h.Client.Acquire(ctx, "US", "whatsapp", harness.AcquireOptions{})
	if e := asError(t, err, harness.ReasonNoNumbersAvailable); e.Metadata["country"] != "US" ||
		e.Metadata["service"] != "whatsapp" || e.Code != codes.ResourceExhausted || e.HasRetryDelay {
		t.Errorf("stock-out %v", e)
	}
	addFault(t, h.MockURL, map[string]interface{}{"kind": "rate_limit_exceeded", "endpoint": "numbers.request",
		"key": h.Account, "count": 1, "retry_after_seconds": 2})
	_, err = h.Client.Acquire(ctx, "US", "whatsapp", harness.AcquireOptions{})
	if e := asError(t, err, harness.ReasonRateLimitExceeded); !e.HasRetryDelay || e.RetryDelay <= 0 {
		t.Errorf("no retry delay: %v", e)
	}
}

func TestATimeoutCarriesTheLastHeartbeat(t *testing.T) {
	h := harnesstest.For(t)
	number := h.Acquire("US", "whatsapp")
	beats := 0
	_, err := h.Client.AwaitCode(context.Background(), number.ID, harness.AwaitOptions{
		Timeout: 600 * time.Millisecond, CodePattern: never, OnHeartbeat: func(harness.Heartbeat) { beats++ }})
	e := asError(t, err, harness.ReasonCodeWaitTimeout)
	if e.LastHeartbeat == nil || beats == 0 || !strings.Contains(e.Error(), "CODE_WAIT_TIMEOUT (DeadlineExceeded)") ||
		!strings.Contains(e.Error(), "last heartbeat") {
		t.Errorf("%d heartbeats, error %v", beats, e)
	}
}

func TestTheStreamEndsOnCloseAndOnCancel(t *testing.T) {
	h := harnesstest.For(t)
	number := h.Acquire("US", "whatsapp")
	stream, err := h.Client.Stream(context.Background(), number.ID, harness.AwaitOptions{Timeout: time.Minute, CodePattern: never})
	if err != nil {
		t.Fatal(err)
	}
	if event, err := stream.Next(); err != nil {
		t.Fatal(err)
	} else if _, ok := event.(*harness.Heartbeat); !ok {
		t.Fatalf("first event %T", event)
	}
	stream.Close()
	if _, err := stream.Next(); err == nil {
		t.Fatal("a closed stream gave another event")
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err = h.Client.AwaitCode(ctx, number.ID, harness.AwaitOptions{Timeout: time.Minute, CodePattern: never,
		OnHeartbeat: func(harness.Heartbeat) { cancel() }})
	if e := asError(t, err, harness.ReasonCancelled); e.LastHeartbeat == nil {
		t.Errorf("no last heartbeat: %v", e)
	}
	// The number can still be awaited.
	if code := h.AwaitCode(number, harness.AwaitOptions{Timeout: time.Minute}); len(code.Code) < 4 {
		t.Errorf("code %+v", code)
	}
}

func TestEachTestHasItsOwnAccount(t *testing.T) {
	var mu sync.Mutex
	accounts := map[string]bool{}
	for i := 0; i < 3; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			h := harnesstest.For(t)
			if h.MockURL == "" {
				t.Skip("no mock behind this gateway")
			}
			if harnesstest.For(t) != h || !strings.HasPrefix(h.Account, "go-") {
				t.Errorf("For(t) is not one per test: %q", h.Account)
			}
			mu.Lock()
			defer mu.Unlock()
			if accounts[h.Account] {
				t.Errorf("account %s shared", h.Account)
			}
			accounts[h.Account] = true
		})
	}
}

// recorder is a testing.TB whose Fatalf records the message and ends its goroutine.
type recorder struct {
	testing.TB
	message  string
	cleanups []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Fatalf(f string, a ...interface{}) {
	r.message = fmt.Sprintf(f, a...)
	runtime.Goexit()
}

func fatalOf(run func(t testing.TB), r *recorder) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(r)
	}()
	<-done
	return r.message
}

func TestAFailingHelperNamesTheCallAndTheReason(t *testing.T) {
	harnesstest.CurrentSession(t)
	r := &recorder{TB: t}
	defer func() {
		for _, f := range r.cleanups {
			f()
		}
	}()
	message := fatalOf(func(tb testing.TB) { harnesstest.Acquire(tb, "US", "no-such-service") }, r)
	if !strings.HasPrefix(message, "harnesstest: Acquire(US, no-such-service) failed: INVALID_SERVICE") {
		t.Errorf("message %q", message)
	}
	var number *harness.Number
	fatalOf(func(tb testing.TB) { number = harnesstest.Acquire(tb, "US", "whatsapp") }, r)
	message = fatalOf(func(tb testing.TB) {
		harnesstest.AwaitCode(tb, number, harness.AwaitOptions{Timeout: 500 * time.Millisecond, CodePattern: never})
	}, r)
	if !strings.Contains(message, "AwaitCode("+number.Phone+") failed: CODE_WAIT_TIMEOUT") ||
		!strings.Contains(message, "last heartbeat") {
		t.Errorf("message %q", message)
	}
}

func TestSecretsThatAreNotPrintableASCIIAreRefusedWithoutQuotingThem(t *testing.T) {
	for _, options := range []harness.Options{{Token: "s3cret-token\r\n"}, {CallerKey: "s3cret-k\u00e9y"}} {
		options.IgnoreEnvironment, options.ConnectTimeout = true, -1
		_, err := harness.Dial(context.Background(), options)
		if e := asError(t, err, harness.ReasonInvalidArgument); strings.Contains(e.Error(), "s3cret") {
			t.Errorf("the error quotes the secret: %v", e)
		}
	}
}

func TestDialErrorsNameTheAddressAndCloseTwiceIsHarmless(t *testing.T) {
	address := fmt.Sprintf("127.0.0.1:%d", portNobodyListensOn(t))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := harness.Dial(ctx, harness.Options{Address: address, IgnoreEnvironment: true})
	if e := asError(t, err, harness.ReasonGatewayUnavailable); !strings.Contains(e.Message, address) {
		t.Errorf("the message does not name %s: %v", address, e)
	}
	client := harnesstest.Client(t)
	number := harnesstest.Acquire(t, "US", "whatsapp")
	_, err = client.AwaitCode(context.Background(), number.ID,
		harness.AwaitOptions{ReceivedAfter: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if e := asError(t, err, harness.ReasonInvalidArgument); e.BadFields[0].Field != "received_after" {
		t.Errorf("bad fields %v", e.BadFields)
	}
	_, err = client.AwaitCode(context.Background(), number.ID,
		harness.AwaitOptions{SmsSentAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if e := asError(t, err, harness.ReasonInvalidArgument); e.BadFields[0].Field != "sms_sent_at" {
		t.Errorf("bad fields %v", e.BadFields)
	}
	lazy, _ := harness.Dial(context.Background(), harness.Options{Address: address, ConnectTimeout: -1})
	if lazy.Close() != nil || lazy.Close() != nil {
		t.Error("Close returned an error")
	}
}

func TestAnUpstreamTimeoutCarriesTheRequestIDToRepeatWith(t *testing.T) {
	h := harnesstest.For(t)
	if h.MockURL == "" {
		t.Skip("no mock behind this gateway")
	}
	addFault(t, h.MockURL, map[string]interface{}{"kind": "reset", "endpoint": "numbers.request",
		"key": h.Account, "count": 1, "phase": "after"})
	_, err := h.Client.Acquire(context.Background(), "US", "whatsapp", harness.AcquireOptions{})
	lost := asError(t, err, harness.ReasonUpstreamTimeout)
	if !strings.HasPrefix(lost.RequestID, "req-") {
		t.Fatalf("no request id: %+v", lost)
	}
	// The repeat never buys again: the outcome stays unknown.
	_, err = h.Client.Acquire(context.Background(), "US", "whatsapp", harness.AcquireOptions{RequestID: lost.RequestID})
	asError(t, err, harness.ReasonUpstreamTimeout)
}

func TestForFromManyGoroutinesIsOneHarness(t *testing.T) {
	var wg sync.WaitGroup
	got := make([]*harnesstest.Harness, 8)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i] = harnesstest.For(t)
		}(i)
	}
	wg.Wait()
	for _, h := range got[1:] {
		if h != got[0] {
			t.Fatal("For(t) from concurrent goroutines gave different harnesses")
		}
	}
}
