// Package conformance runs every case under tests/conformance/cases through the Go
// client's public API, against the launcher's mock and gateways. The reference runner
// is the C++ one (tests/conformance/cpp/conformance_test.cc); the format is
// tests/conformance/README.md.
package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ismscode/ismscode-harness/client/go/harness"
	"google.golang.org/grpc/codes"
)

const startTimeout = 60 * time.Second

type object = map[string]interface{}

var (
	launcherIn io.WriteCloser
	launched   struct {
		GRPC             string `json:"grpc"`
		Token            string `json:"token"`
		GRPCNoCallerKeys string `json:"grpc_no_caller_keys"`
		GRPCDrain        string `json:"grpc_drain"`
		GRPCStateDown    string `json:"grpc_state_down"`
		Mock             string `json:"mock"`
		GatewayKey       string `json:"gateway_key"`
	}
	stepKinds  = []string{"list_countries", "list_services", "acquire", "await", "mock"}
	stepFields = map[string]bool{"during": true, "client": true, "save": true, "expect": true}
	refPattern = regexp.MustCompile(`\$\{([^}]*)\}`)
	// The canonical names of the gRPC codes, as the cases write them.
	codeNames = map[codes.Code]string{codes.OK: "OK", codes.Canceled: "CANCELLED",
		codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND",
		codes.AlreadyExists: "ALREADY_EXISTS", codes.PermissionDenied: "PERMISSION_DENIED",
		codes.ResourceExhausted: "RESOURCE_EXHAUSTED", codes.FailedPrecondition: "FAILED_PRECONDITION",
		codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
		codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
		codes.Unauthenticated: "UNAUTHENTICATED"}
)

func init() {
	for _, k := range stepKinds {
		stepFields[k] = true
	}
}

func conformanceDir() string {
	_, file, _, _ := runtime.Caller(0)                    // client/go/conformance -> the checkout
	dir, err := filepath.EvalSymlinks(filepath.Dir(file)) // scripts/go builds through a link
	if err != nil {
		dir = filepath.Dir(file)
	}
	return filepath.Join(dir, "..", "..", "..", "tests", "conformance")
}

// TestMain starts the launcher (its stdin stays open: closing it stops everything).
func TestMain(m *testing.M) {
	args := []string{"--frozen-clock"}
	if dir := os.Getenv("ISMSCODE_BIN_DIR"); dir != "" {
		args = append(args, "--bin-dir", dir)
	}
	cmd := exec.Command(filepath.Join(conformanceDir(), "harness"), args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		panic(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the launcher:", err)
		os.Exit(1)
	}
	launcherIn = in
	line := make(chan string, 1)
	go func() {
		text, _ := bufio.NewReader(out).ReadString('\n')
		line <- text
		io.Copy(io.Discard, out)
	}()
	var text string
	select {
	case text = <-line:
	case <-time.After(startTimeout):
	}
	code := 1
	if err := json.Unmarshal([]byte(text), &launched); err != nil {
		fmt.Fprintf(os.Stderr, "the launcher did not start within %v: %q\n", startTimeout, text)
	} else {
		code = m.Run()
	}
	in.Close() // stops the mock and gateways
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	os.Exit(code)
}

func TestCases(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir(), "cases", "*.json"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no case files under tests/conformance/cases")
	}
	for _, file := range files {
		file := file
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c object
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			newRunner(t, c).run()
		})
	}
}

type runner struct {
	t          *testing.T
	c          object
	key        string
	vars       object
	heartbeats int
}

func newRunner(t *testing.T, c object) *runner {
	b := make([]byte, 4)
	rand.Read(b)
	key := fmt.Sprintf("case-%v-%s", c["name"], hex.EncodeToString(b))
	return &runner{t: t, c: c, key: key,
		vars: object{"key": key, "run": key[5:], "gateway_key": launched.GatewayKey}}
}

func (r *runner) lookup(ref string) interface{} {
	parts := strings.Split(ref, ".")
	value, ok := r.vars[parts[0]]
	if !ok {
		r.t.Fatalf("unknown variable ${%s}", ref)
	}
	for _, part := range parts[1:] {
		switch v := value.(type) {
		case []interface{}:
			var i int
			fmt.Sscan(part, &i)
			value = v[i]
		case object:
			value = v[part]
		default:
			r.t.Fatalf("${%s}: %q is not in %v", ref, part, value)
		}
	}
	return value
}

func (r *runner) sub(value interface{}) interface{} {
	switch v := value.(type) {
	case object:
		out := object{}
		for k, x := range v {
			out[k] = r.sub(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(v))
		for i, x := range v {
			out[i] = r.sub(x)
		}
		return out
	case string:
		refs := refPattern.FindAllStringSubmatch(v, -1)
		if strings.Count(v, "${") != len(refs) {
			r.t.Fatalf("unterminated ${ in %s", v)
		}
		if len(refs) == 1 && refs[0][0] == v {
			return r.lookup(refs[0][1]) // keeps the value's type
		}
		return refPattern.ReplaceAllStringFunc(v, func(m string) string {
			x := r.lookup(m[2 : len(m)-1])
			if s, ok := x.(string); ok {
				return s
			}
			b, _ := json.Marshal(x)
			return string(b)
		})
	}
	return value
}

// expectSubset: objects by their given keys, arrays element by element, scalars by type
// and value (true is not 1, "1" is not 1: JSON decoding keeps them apart).
func (r *runner) expectSubset(expected, actual interface{}, where string) {
	r.t.Helper()
	switch e := expected.(type) {
	case object:
		a, ok := actual.(object)
		if !ok {
			r.t.Fatalf("%s: expected an object, got %v", where, actual)
		}
		for k, v := range e {
			x, ok := a[k]
			if !ok {
				r.t.Fatalf("%s.%s: missing in %v", where, k, actual)
			}
			r.expectSubset(v, x, where+"."+k)
		}
	case []interface{}:
		a, ok := actual.([]interface{})
		if !ok || len(a) != len(e) {
			r.t.Fatalf("%s: expected %d elements, got %v", where, len(e), actual)
		}
		for i := range e {
			r.expectSubset(e[i], a[i], fmt.Sprintf("%s[%d]", where, i))
		}
	default:
		if expected != actual {
			r.t.Fatalf("%s: expected %#v, got %#v", where, expected, actual)
		}
	}
}

// asJSON is v as the JSON decoder would give it back (numbers as float64).
func asJSON(v interface{}) interface{} {
	b, _ := json.Marshal(v)
	var out interface{}
	json.Unmarshal(b, &out)
	return out
}

func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func (r *runner) mock(raw interface{}, where string) interface{} {
	call := r.sub(raw).(object)
	method, _ := call["method"].(string)
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader // GET and DELETE carry no body, as in the C++ runner
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		data := []byte{}
		if b, ok := call["body"]; ok {
			data, _ = json.Marshal(b)
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, fmt.Sprintf("%s/_mock/v1/%v", launched.Mock, call["path"]), body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s: %v", where, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if want, ok := call["status"].(float64); ok {
		if resp.StatusCode != int(want) {
			r.t.Fatalf("%s: %v gave %d: %s", where, call["path"], resp.StatusCode, text)
		}
	} else if resp.StatusCode/100 != 2 {
		r.t.Fatalf("%s: %v gave %d: %s", where, call["path"], resp.StatusCode, text)
	}
	var out interface{}
	if json.Unmarshal(text, &out) != nil {
		return nil
	}
	return out
}

func (r *runner) clientFor(step object) *harness.Client {
	address, token, callerKey := launched.GRPC, launched.Token, r.key
	c, _ := r.sub(step["client"]).(object)
	switch c["gateway"] {
	case "no_caller_keys":
		address, token, callerKey = launched.GRPCNoCallerKeys, "", ""
	case "drain":
		address, token = launched.GRPCDrain, ""
	case "state_down":
		address, token = launched.GRPCStateDown, ""
	}
	if v, ok := c["token"]; ok {
		token, _ = v.(string) // null: none
	}
	if v, ok := c["caller_key"]; ok {
		callerKey, _ = v.(string)
	}
	client, err := harness.Dial(context.Background(), harness.Options{Address: address, Token: token,
		CallerKey: callerKey, IgnoreEnvironment: true, ConnectTimeout: -1})
	if err != nil {
		r.t.Fatal(err)
	}
	return client
}

func (r *runner) run() {
	account := object{"key": r.key, "balance": 100, "rate_limit": "off"}
	if a, ok := r.c["account"].(object); ok {
		for k, v := range a {
			account[k] = v
		}
	}
	r.mock(object{"method": "POST", "path": "accounts", "body": account, "status": float64(201)}, "account")
	setup, _ := r.c["setup"].([]interface{})
	for _, call := range setup {
		r.mock(call, "setup")
	}
	steps, _ := r.c["steps"].([]interface{})
	for i, step := range steps {
		r.step(step.(object), fmt.Sprintf("step %d", i))
	}
}

func str(m object, key string) string {
	s, _ := m[key].(string)
	return s
}

func millis(m object, key string) time.Duration {
	f, _ := m[key].(float64)
	return time.Duration(f * float64(time.Millisecond))
}

func (r *runner) step(step object, where string) {
	for k := range step {
		if !stepFields[k] {
			r.t.Fatalf("%s: unknown step field %q", where, k)
		}
	}
	if _, ok := step["during"]; ok {
		if _, ok := step["await"]; !ok {
			r.t.Fatalf("%s: 'during' needs an await", where)
		}
	}
	if m, ok := step["mock"]; ok {
		body := r.mock(m, where)
		if e, ok := step["expect"]; ok {
			r.expectSubset(r.sub(e), body, where)
		}
		if name, ok := step["save"].(string); ok {
			r.vars[name] = body
		}
		return
	}
	client := r.clientFor(step)
	defer client.Close()
	ctx := context.Background()
	var result interface{}
	var err error
	r.heartbeats = 0
	switch {
	case step["list_countries"] != nil:
		var countries []harness.Country
		if countries, err = client.ListCountries(ctx); err == nil {
			codes := []string{}
			for _, c := range countries {
				codes = append(codes, c.Code)
			}
			result = object{"countries": codes}
		}
	case step["list_services"] != nil:
		var services []string
		if services, err = client.ListServices(ctx); err == nil {
			result = object{"services": services}
		}
	case step["acquire"] != nil:
		a := r.sub(step["acquire"]).(object)
		var fallbacks []string
		list, _ := a["fallback_countries"].([]interface{})
		for _, c := range list {
			fallbacks = append(fallbacks, c.(string))
		}
		var n *harness.Number
		n, err = client.Acquire(ctx, str(a, "country"), str(a, "service"), harness.AcquireOptions{
			FallbackCountries: fallbacks, RequestID: str(a, "request_id"),
			MaxWait: millis(a, "max_wait_ms"), Deadline: millis(a, "deadline_ms")})
		if err == nil {
			result = object{"id": n.ID, "phone": n.Phone, "country": n.Country, "service": n.Service,
				"expires_at": rfc3339(n.ExpiresAt), "attempts": n.Attempts, "replayed": n.Replayed,
				"request_id": n.RequestID}
		}
	case step["await"] != nil:
		result, err = r.await(client, step, where)
	default:
		r.t.Fatalf("%s: no step kind", where)
	}
	expect, _ := r.sub(step["expect"]).(object)
	if want, ok := expect["error"].(object); ok {
		var e *harness.Error
		if !errors.As(err, &e) {
			r.t.Fatalf("%s: expected an error, got %v (%v)", where, result, err)
		}
		badFields := []string{}
		for _, f := range e.BadFields {
			badFields = append(badFields, f.Field)
		}
		actual := asJSON(object{"grpc_code": codeNames[e.Code], "reason": string(e.Reason),
			"message": e.Message, "retry_info": e.HasRetryDelay, "metadata": e.Metadata}).(object)
		for k, v := range want {
			switch k {
			case "message_contains":
				if !strings.Contains(e.Message, v.(string)) {
					r.t.Fatalf("%s: %q lacks %q", where, e.Message, v)
				}
			case "bad_fields":
				wantSet := map[string]bool{}
				for _, f := range v.([]interface{}) {
					wantSet[f.(string)] = true
				}
				gotSet := map[string]bool{}
				for _, f := range badFields {
					gotSet[f] = true
				}
				if fmt.Sprint(wantSet) != fmt.Sprint(gotSet) {
					r.t.Fatalf("%s: bad fields %v, want %v", where, badFields, v)
				}
			case "metadata":
				r.expectSubset(v, actual["metadata"], where+".metadata")
			default:
				if actual[k] != v {
					r.t.Fatalf("%s.%s: expected %#v, error was %v", where, k, v, e)
				}
			}
		}
	} else {
		if err != nil {
			r.t.Fatalf("%s: %v", where, err)
		}
		result = asJSON(result)
		if ok, present := expect["ok"]; present {
			r.expectSubset(ok, result, where)
		}
		if name, ok := step["save"].(string); ok {
			r.vars[name] = result
		}
	}
	if min, ok := expect["min_heartbeats"].(float64); ok && float64(r.heartbeats) < min {
		r.t.Fatalf("%s: %d heartbeats", where, r.heartbeats)
	}
}

func (r *runner) await(client *harness.Client, step object, where string) (interface{}, error) {
	a := r.sub(step["await"]).(object)
	during, _ := step["during"].([]interface{})
	cancelAfter, _ := a["cancel_after_heartbeats"].(float64)
	follow, _ := a["follow"].(bool)
	options := harness.AwaitOptions{CodePattern: str(a, "code_pattern"), SenderPattern: str(a, "sender_pattern"),
		Follow: follow, Timeout: millis(a, "timeout_ms")}
	if v, ok := a["min_code_length"].(float64); ok {
		options.MinCodeLength = int(v)
	}
	if v, ok := a["max_code_length"].(float64); ok {
		options.MaxCodeLength = int(v)
	}
	for field, into := range map[string]*time.Time{"received_after": &options.ReceivedAfter,
		"sms_sent_at": &options.SmsSentAt} {
		if text := str(a, field); text != "" {
			t, err := time.Parse(time.RFC3339Nano, text)
			if err != nil {
				r.t.Fatalf("%s: %s: %v", where, field, err)
			}
			*into = t
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fired, cancelled := 0, false
	received := []interface{}{}
	// A hook that never ran means the case checked less than it says.
	defer func() {
		if fired != len(during) {
			r.t.Errorf("%s: %d of %d 'during' calls ran", where, fired, len(during))
		}
		if cancelled != (cancelAfter > 0) {
			r.t.Errorf("%s: cancel never reached", where)
		}
	}()
	stream, err := client.Stream(ctx, str(a, "number_id"), options)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	for {
		event, err := stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch e := event.(type) {
		case *harness.Heartbeat:
			r.heartbeats++
			for _, d := range during {
				hook := d.(object)
				if hook["after_heartbeats"] != float64(r.heartbeats) {
					continue
				}
				if line, ok := hook["harness"].(string); ok {
					fmt.Fprintln(launcherIn, line)
				} else {
					r.mock(hook["mock"], where+" during")
				}
				fired++
			}
			if cancelAfter > 0 && float64(r.heartbeats) == cancelAfter {
				cancel()
				cancelled = true
			}
		case *harness.Code: // read on to the stream's end, as C++
			received = append(received, object{"code": e.Code, "raw_match": e.RawMatch, "from": e.Sms.From,
				"text": e.Sms.Text, "received_at": rfc3339(e.Sms.ReceivedAt)})
		}
	}
	if follow {
		return object{"codes": received}, nil
	}
	if len(received) == 0 {
		return nil, &harness.Error{Reason: harness.ReasonUnknown, Code: codes.Unknown,
			Message: "the stream ended without a code"}
	}
	return received[0], nil
}
