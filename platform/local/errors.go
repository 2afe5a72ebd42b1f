package local

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error types the Lambda API answers with; the SDK decodes each into its typed error in
// github.com/aws/aws-sdk-go-v2/service/lambda/types.
const (
	errResourceNotFound    = "ResourceNotFoundException"
	errInvalidParameter    = "InvalidParameterValueException"
	errResourceConflict    = "ResourceConflictException"
	errTooManyRequests     = "TooManyRequestsException"
	errRequestTooLarge     = "RequestTooLargeException"
	errPreconditionFailed  = "PreconditionFailedException"
	errService             = "ServiceException"
	errUnsupportedMedia    = "UnsupportedMediaTypeException"
	errInvalidRequest      = "InvalidRequestContentException"
	errUnknownOperation    = "UnknownOperationException"
	reasonReservedExceeded = "ReservedFunctionConcurrentInvocationLimitExceeded"
)

// apiError is an error answered to an API client in the AWS shape: the X-Amzn-ErrorType header
// names the type, the JSON body carries the message.
type apiError struct {
	status int
	typ    string
	msg    string
	reason string // TooManyRequestsException only
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, typ: errResourceNotFound, msg: fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: errInvalidParameter, msg: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *apiError {
	return &apiError{status: http.StatusConflict, typ: errResourceConflict, msg: fmt.Sprintf(format, args...)}
}

func tooLarge(format string, args ...any) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: errRequestTooLarge, msg: fmt.Sprintf(format, args...)}
}

// throttled is Lambda's answer to an invocation beyond a concurrency limit; reason is
// reasonReservedExceeded or reasonAccountExceeded.
func throttled(reason string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, typ: errTooManyRequests, msg: "Rate Exceeded.", reason: reason}
}

func serviceError(format string, args ...any) *apiError {
	return &apiError{status: http.StatusInternalServerError, typ: errService, msg: fmt.Sprintf(format, args...)}
}

// writeLambdaError answers a REST-JSON (Lambda) request with err, which is an *apiError or else
// reported as a ServiceException.
func writeLambdaError(w http.ResponseWriter, requestID string, err error) {
	ae, ok := err.(*apiError)
	if !ok {
		ae = serviceError("%v", err)
	}
	body := map[string]string{"Type": "User", "message": ae.msg}
	if ae.status >= 500 {
		body["Type"] = "Service"
	}
	if ae.reason != "" {
		body["Reason"] = ae.reason
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-RequestId", requestID)
	h.Set("X-Amzn-ErrorType", ae.typ)
	w.WriteHeader(ae.status)
	_ = json.NewEncoder(w).Encode(body)
}
