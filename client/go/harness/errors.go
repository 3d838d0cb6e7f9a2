package harness

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the ErrorInfo domain of the gateway's errors.
const ErrorDomain = "ismscode.harness"

// Reason is the reason of a failed call: a row of the README's error table, or one of
// the client's own (GATEWAY_UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED). A Reason is an
// error value, so errors.Is(err, harness.ReasonNoNumbersAvailable) tests for it.
type Reason string

const (
	ReasonInvalidArgument     Reason = "INVALID_ARGUMENT"
	ReasonInvalidCountry      Reason = "INVALID_COUNTRY"
	ReasonInvalidService      Reason = "INVALID_SERVICE"
	ReasonUnauthorized        Reason = "UNAUTHORIZED"
	ReasonInsufficientBalance Reason = "INSUFFICIENT_BALANCE"
	ReasonNoNumbersAvailable  Reason = "NO_NUMBERS_AVAILABLE"
	ReasonRateLimitExceeded   Reason = "RATE_LIMIT_EXCEEDED"
	ReasonUpstreamUnavailable Reason = "UPSTREAM_UNAVAILABLE"
	ReasonUpstreamTimeout     Reason = "UPSTREAM_TIMEOUT" // repeat with the same RequestID
	ReasonUpstreamBadResponse Reason = "UPSTREAM_BAD_RESPONSE"
	ReasonNumberNotFound      Reason = "NUMBER_NOT_FOUND"
	ReasonCodeWaitTimeout     Reason = "CODE_WAIT_TIMEOUT"
	ReasonNumberExpired       Reason = "NUMBER_EXPIRED"
	ReasonShuttingDown        Reason = "SHUTTING_DOWN"
	ReasonUnauthenticated     Reason = "UNAUTHENTICATED"
	ReasonCallerKeyNotAllowed Reason = "CALLER_KEY_NOT_ALLOWED"
	ReasonStateUnavailable    Reason = "STATE_UNAVAILABLE" // the fleet's Redis; nothing bought
	ReasonGatewayUnavailable  Reason = "GATEWAY_UNAVAILABLE"
	ReasonCancelled           Reason = "CANCELLED"
	ReasonDeadlineExceeded    Reason = "DEADLINE_EXCEEDED"
	ReasonUnknown             Reason = "UNKNOWN"
)

func (r Reason) Error() string { return string(r) }

// BadField is a request field the gateway (or the client) refused.
type BadField struct {
	Field       string // the request's field, as the proto names it ("timeout")
	Description string
}

// Error is every failed call's error: errors.As(err, &harnessErr).
type Error struct {
	Reason        Reason
	Code          codes.Code // the gRPC status code
	Message       string     // the gateway's message
	RetryDelay    time.Duration
	HasRetryDelay bool // RetryInfo was given: try again after RetryDelay
	BadFields     []BadField
	Metadata      map[string]string // the ErrorInfo metadata (e.g. country, service)
	LastHeartbeat *Heartbeat        // the last progress report of a wait that failed
	// Acquire: the request id it sent (generated when none was given). After
	// UPSTREAM_TIMEOUT, repeat with it: nothing is bought twice.
	RequestID string
}

// Error reads "NO_NUMBERS_AVAILABLE (ResourceExhausted): ... [country=US] [last
// heartbeat: ...]": what a failed test should print.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", e.Reason, e.Code, e.Message)
	keys := make([]string, 0, len(e.Metadata))
	for k := range e.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " [%s=%s]", k, e.Metadata[k])
	}
	for _, f := range e.BadFields {
		fmt.Fprintf(&b, " [field %s: %s]", f.Field, f.Description)
	}
	if e.HasRetryDelay {
		fmt.Fprintf(&b, " [retry after %g s]", e.RetryDelay.Seconds())
	}
	if h := e.LastHeartbeat; h != nil {
		fmt.Fprintf(&b, " [last heartbeat: %d polls, next poll %s, expires %s", h.Polls,
			h.NextPollAt.UTC().Format(time.RFC3339Nano), h.ExpiresAt.UTC().Format(time.RFC3339Nano))
		if h.LastUpstreamError != "" {
			fmt.Fprintf(&b, ", last upstream error: %s", h.LastUpstreamError)
		}
		if h.WaitingForBudget {
			b.WriteString(", waiting for the rate budget")
		}
		b.WriteString("]")
	}
	return b.String()
}

// Is makes errors.Is(err, harness.ReasonX) true for an error of that reason.
func (e *Error) Is(target error) bool {
	r, ok := target.(Reason)
	return ok && r == e.Reason
}

// ReasonOf is err's reason; ReasonUnknown when err is not a harness error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonUnknown
}

func invalidArgument(option, description, field string) *Error {
	return &Error{
		Reason:    ReasonInvalidArgument,
		Code:      codes.InvalidArgument,
		Message:   option + " " + description,
		BadFields: []BadField{{Field: field, Description: description}},
	}
}

// fromRPC is the typed error of a failed call, from its google.rpc.Status details.
func fromRPC(err error, address string, last *Heartbeat) *Error {
	st, _ := status.FromError(err)
	e := &Error{Code: st.Code(), Message: st.Message(), Metadata: map[string]string{},
		LastHeartbeat: last}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain {
				e.Reason = Reason(d.GetReason())
				for k, v := range d.GetMetadata() {
					e.Metadata[k] = v
				}
			}
		case *errdetails.RetryInfo:
			e.RetryDelay = d.GetRetryDelay().AsDuration()
			e.HasRetryDelay = true
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.BadFields = append(e.BadFields, BadField{v.GetField(), v.GetDescription()})
			}
		}
	}
	if e.Reason == "" {
		switch e.Code {
		case codes.Unavailable:
			e.Reason = ReasonGatewayUnavailable
			e.Message = fmt.Sprintf("cannot reach the gateway at %s (%s): start it (scripts/run) "+
				"or set ISMSCODE_HARNESS_ADDR", address, e.Message)
		case codes.Canceled:
			e.Reason = ReasonCancelled
		case codes.DeadlineExceeded:
			e.Reason = ReasonDeadlineExceeded
		default:
			e.Reason = ReasonUnknown
		}
	}
	return e
}
