// Package cwlogs is the local platform's CloudWatch Logs: log groups and streams kept in
// memory, each group bounded (the oldest events go first, of the group or of all groups), and
// the part of the awsJson1_1 API that Fusionize's adapters and a user's tools call —
// FilterLogEvents (with CloudWatch's plain term patterns), GetLogEvents, DescribeLogGroups and
// DescribeLogStreams — answered in the shapes aws-sdk-go-v2 decodes. The platform appends its
// functions' output and REPORT lines with Append and routes the API's requests to Serve.
package cwlogs

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// eventOverhead is what CloudWatch Logs counts per event on top of the message bytes.
const eventOverhead = 26

// Store keeps the log groups in memory, each bounded to maxBytes and all together to
// maxTotal: the oldest events go first (of the group, or of all groups).
type Store struct {
	maxBytes int
	maxTotal int64
	now      func() time.Time

	mu     sync.Mutex
	groups map[string]*logGroup
	total  int64 // bytes of every group
}

type logGroup struct {
	name    string
	created int64
	events  []logEvent // in ingestion order; events[head:] are live
	head    int
	bytes   int
	nextSeq int64
	streams map[string]*logStream
}

type logEvent struct {
	seq    int64
	ts     int64 // ms since the epoch
	stream *logStream
	msg    string
}

type logStream struct {
	name          string
	created       int64
	first, last   int64
	lastIngestion int64
	bytes         int
}

// New returns an empty store whose groups hold at most maxBytes each and maxTotal together,
// counted as CloudWatch counts (message bytes plus 26 per event).
func New(maxBytes int, maxTotal int64) *Store {
	return &Store{maxBytes: maxBytes, maxTotal: maxTotal, now: time.Now, groups: map[string]*logGroup{}}
}

// Bytes is what the store holds, counted as CloudWatch counts.
func (s *Store) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// appendEvents adds messages to a stream, creating the group and stream on first use as Lambda
// does, and drops the group's oldest events beyond the bound.
func (s *Store) Append(group, stream string, ts time.Time, msgs ...string) {
	ms := ts.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		g = &logGroup{name: group, created: ms, streams: map[string]*logStream{}}
		s.groups[group] = g
	}
	st := g.streams[stream]
	if st == nil {
		st = &logStream{name: stream, created: ms, first: ms}
		g.streams[stream] = st
	}
	for _, m := range msgs {
		size := len(m) + eventOverhead
		g.events = append(g.events, logEvent{seq: g.nextSeq, ts: ms, stream: st, msg: m})
		g.nextSeq++
		g.bytes += size
		st.bytes += size
		s.total += int64(size)
	}
	st.last, st.lastIngestion = ms, ms
	for g.bytes > s.maxBytes && g.head < len(g.events)-1 {
		s.dropOldest(g)
	}
	for s.total > s.maxTotal {
		oldest := s.oldestGroup(g)
		if oldest == nil {
			break
		}
		s.dropOldest(oldest)
	}
}

// dropOldest drops a group's oldest live event and compacts the group now and then.
func (s *Store) dropOldest(g *logGroup) {
	e := &g.events[g.head]
	size := len(e.msg) + eventOverhead
	g.bytes -= size
	e.stream.bytes -= size
	s.total -= int64(size)
	*e = logEvent{}
	g.head++
	if g.head > 1024 && g.head > len(g.events)/2 {
		g.events = slices.Clone(g.events[g.head:])
		g.head = 0
	}
}

// oldestGroup is the group whose oldest live event is the oldest of all, keeping the newest
// event of the group just written to (its last line is never dropped at once); nil if nothing
// can go.
func (s *Store) oldestGroup(writing *logGroup) *logGroup {
	var oldest *logGroup
	for _, g := range s.groups {
		keep := 0
		if g == writing {
			keep = 1
		}
		if len(g.events)-g.head <= keep {
			continue
		}
		if oldest == nil || g.events[g.head].ts < oldest.events[oldest.head].ts {
			oldest = g
		}
	}
	return oldest
}

// filterInput is FilterLogEvents' request.
type filterInput struct {
	LogGroupName        string   `json:"logGroupName"`
	LogGroupIdentifier  string   `json:"logGroupIdentifier"`
	LogStreamNames      []string `json:"logStreamNames"`
	LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
	StartTime           *int64   `json:"startTime"`
	EndTime             *int64   `json:"endTime"`
	FilterPattern       string   `json:"filterPattern"`
	NextToken           string   `json:"nextToken"`
	Limit               int      `json:"limit"`
}

type filteredEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type filterOutput struct {
	Events    []filteredEvent `json:"events"`
	NextToken string          `json:"nextToken,omitempty"`
}

func groupName(name, identifier string) string {
	if name != "" {
		return name
	}
	// An identifier may be an ARN: arn:aws:logs:region:account:log-group:NAME[:*].
	if i := strings.Index(identifier, ":log-group:"); i >= 0 {
		return strings.TrimSuffix(identifier[i+len(":log-group:"):], ":*")
	}
	return identifier
}

func (s *Store) filter(in *filterInput) (*filterOutput, error) {
	name := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if name == "" {
		return nil, &apiError{status: 400, typ: "InvalidParameterException", msg: "logGroupName or logGroupIdentifier is required"}
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, &apiError{status: 400, typ: "InvalidParameterException", msg: "logStreamNames and logStreamNamePrefix are mutually exclusive"}
	}
	pat, err := parseFilterPattern(in.FilterPattern)
	if err != nil {
		return nil, &apiError{status: 400, typ: "InvalidParameterException", msg: err.Error()}
	}
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	var from int64
	if in.NextToken != "" {
		from, err = parseToken(in.NextToken, name)
		if err != nil {
			return nil, err
		}
	}
	var streams map[string]bool
	if len(in.LogStreamNames) > 0 {
		streams = map[string]bool{}
		for _, n := range in.LogStreamNames {
			streams[n] = true
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return nil, &apiError{status: 400, typ: errResourceNotFound, msg: "The specified log group does not exist."}
	}
	live := g.events[g.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].seq >= from })
	out := &filterOutput{Events: []filteredEvent{}}
	const pageBytes = 1 << 20 // CloudWatch returns at most 1 MB of events per page
	bytes := 0
	for ; i < len(live); i++ {
		e := &live[i]
		if len(out.Events) >= limit || bytes >= pageBytes {
			out.NextToken = makeToken(name, e.seq)
			break
		}
		if in.StartTime != nil && e.ts < *in.StartTime || in.EndTime != nil && e.ts > *in.EndTime {
			continue
		}
		if streams != nil && !streams[e.stream.name] || !strings.HasPrefix(e.stream.name, in.LogStreamNamePrefix) {
			continue
		}
		if !pat.match(e.msg) {
			continue
		}
		bytes += len(e.msg)
		out.Events = append(out.Events, filteredEvent{
			LogStreamName: e.stream.name, Timestamp: e.ts, Message: e.msg, IngestionTime: e.ts,
			EventID: strconv.FormatInt(e.seq, 10),
		})
	}
	return out, nil
}

// A token names the group so that one cannot page through another group with it.
func makeToken(group string, seq int64) string {
	return strconv.FormatInt(seq, 10) + "/" + group
}

func parseToken(tok, group string) (int64, error) {
	seq, g, ok := strings.Cut(tok, "/")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || g != group {
		return 0, &apiError{status: 400, typ: "InvalidParameterException", msg: "The specified nextToken is invalid."}
	}
	return n, nil
}

// filterPattern is CloudWatch Logs' term syntax: space-separated terms or "quoted phrases" that
// must all occur, -terms that must not, and ?terms of which at least one must occur. Matching is
// case-sensitive. JSON and space-delimited field patterns are not supported.
type filterPattern struct {
	all, none, any []string
}

func parseFilterPattern(s string) (*filterPattern, error) {
	p := &filterPattern{}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return nil, fmt.Errorf("filter pattern %q: JSON and space-delimited patterns are not supported by the local platform", s)
	}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		kind := byte(0)
		if s[0] == '-' || s[0] == '?' {
			kind, s = s[0], s[1:]
		}
		var term string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("filter pattern: unterminated quoted phrase %s", s)
			}
			term, s = s[1:1+end], s[2+end:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			term, s = s[:end], s[end:]
		}
		if term == "" {
			continue
		}
		switch kind {
		case '-':
			p.none = append(p.none, term)
		case '?':
			p.any = append(p.any, term)
		default:
			p.all = append(p.all, term)
		}
	}
	return p, nil
}

func (p *filterPattern) match(msg string) bool {
	for _, t := range p.all {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range p.none {
		if strings.Contains(msg, t) {
			return false
		}
	}
	if len(p.any) == 0 {
		return true
	}
	for _, t := range p.any {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}

type getEventsInput struct {
	LogGroupName       string `json:"logGroupName"`
	LogGroupIdentifier string `json:"logGroupIdentifier"`
	LogStreamName      string `json:"logStreamName"`
	StartTime          *int64 `json:"startTime"`
	EndTime            *int64 `json:"endTime"`
	StartFromHead      bool   `json:"startFromHead"`
	Limit              int    `json:"limit"`
	NextToken          string `json:"nextToken"`
}

type outputEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// getEvents serves GetLogEvents from the head of the stream forward (startFromHead or a token);
// without either it returns the newest events, as CloudWatch does.
func (s *Store) getEvents(in *getEventsInput) (any, error) {
	name := groupName(in.LogGroupName, in.LogGroupIdentifier)
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	var from int64
	if in.NextToken != "" {
		var err error
		if from, err = parseToken(strings.TrimPrefix(strings.TrimPrefix(in.NextToken, "f/"), "b/"), name); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return nil, &apiError{status: 400, typ: errResourceNotFound, msg: "The specified log group does not exist."}
	}
	st := g.streams[in.LogStreamName]
	if st == nil {
		return nil, &apiError{status: 400, typ: errResourceNotFound, msg: "The specified log stream does not exist."}
	}
	var evs []logEvent
	for _, e := range g.events[g.head:] {
		if e.stream == st && e.seq >= from &&
			(in.StartTime == nil || e.ts >= *in.StartTime) && (in.EndTime == nil || e.ts < *in.EndTime) {
			evs = append(evs, e)
		}
	}
	if !in.StartFromHead && in.NextToken == "" && len(evs) > limit {
		evs = evs[len(evs)-limit:]
	}
	if len(evs) > limit {
		evs = evs[:limit]
	}
	out := struct {
		Events   []outputEvent `json:"events"`
		Forward  string        `json:"nextForwardToken"`
		Backward string        `json:"nextBackwardToken"`
	}{Events: make([]outputEvent, 0, len(evs))}
	next := from
	for _, e := range evs {
		out.Events = append(out.Events, outputEvent{Timestamp: e.ts, Message: e.msg, IngestionTime: e.ts})
		next = e.seq + 1
	}
	if len(evs) == 0 && from == 0 {
		next = g.nextSeq
	}
	out.Forward = "f/" + makeToken(name, next)
	out.Backward = "b/" + makeToken(name, from)
	return out, nil
}

type describeGroupsInput struct {
	LogGroupNamePrefix string `json:"logGroupNamePrefix"`
	Limit              int    `json:"limit"`
	NextToken          string `json:"nextToken"`
}

type describeStreamsInput struct {
	LogGroupName        string `json:"logGroupName"`
	LogGroupIdentifier  string `json:"logGroupIdentifier"`
	LogStreamNamePrefix string `json:"logStreamNamePrefix"`
	OrderBy             string `json:"orderBy"`
	Descending          bool   `json:"descending"`
	Limit               int    `json:"limit"`
	NextToken           string `json:"nextToken"`
}

// page cuts names (sorted) at the token and limit and returns the page and the next token.
func page(names []string, token string, limit int) ([]string, string) {
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	start := 0
	if token != "" {
		start = sort.SearchStrings(names, token)
	}
	names = names[start:]
	if len(names) > limit {
		return names[:limit], names[limit]
	}
	return names, ""
}

func (s *Store) describeGroups(in *describeGroupsInput) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.groups {
		if strings.HasPrefix(n, in.LogGroupNamePrefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names, next := page(names, in.NextToken, in.Limit)
	type group struct {
		Name        string `json:"logGroupName"`
		Created     int64  `json:"creationTime"`
		StoredBytes int    `json:"storedBytes"`
		Arn         string `json:"arn"`
		LogGroupArn string `json:"logGroupArn"`
	}
	out := struct {
		Groups    []group `json:"logGroups"`
		NextToken string  `json:"nextToken,omitempty"`
	}{Groups: []group{}, NextToken: next}
	for _, n := range names {
		g := s.groups[n]
		arn := "arn:aws:logs:" + defaultRegion + ":" + accountID + ":log-group:" + n
		out.Groups = append(out.Groups, group{Name: n, Created: g.created, StoredBytes: g.bytes, Arn: arn + ":*", LogGroupArn: arn})
	}
	return out
}

func (s *Store) describeStreams(in *describeStreamsInput) (any, error) {
	name := groupName(in.LogGroupName, in.LogGroupIdentifier)
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return nil, &apiError{status: 400, typ: errResourceNotFound, msg: "The specified log group does not exist."}
	}
	var sts []*logStream
	for _, st := range g.streams {
		if strings.HasPrefix(st.name, in.LogStreamNamePrefix) {
			sts = append(sts, st)
		}
	}
	if in.OrderBy == "LastEventTime" {
		slices.SortFunc(sts, func(a, b *logStream) int { return int(a.last - b.last) })
	} else {
		slices.SortFunc(sts, func(a, b *logStream) int { return strings.Compare(a.name, b.name) })
	}
	if in.Descending {
		slices.Reverse(sts)
	}
	limit := in.Limit
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 {
			return nil, &apiError{status: 400, typ: "InvalidParameterException", msg: "The specified nextToken is invalid."}
		}
		start = min(n, len(sts))
	}
	type stream struct {
		Name          string `json:"logStreamName"`
		Created       int64  `json:"creationTime"`
		First         int64  `json:"firstEventTimestamp"`
		Last          int64  `json:"lastEventTimestamp"`
		LastIngestion int64  `json:"lastIngestionTime"`
		StoredBytes   int    `json:"storedBytes"`
		Arn           string `json:"arn"`
	}
	out := struct {
		Streams   []stream `json:"logStreams"`
		NextToken string   `json:"nextToken,omitempty"`
	}{Streams: []stream{}}
	end := min(start+limit, len(sts))
	for _, st := range sts[start:end] {
		out.Streams = append(out.Streams, stream{
			Name: st.name, Created: st.created, First: st.first, Last: st.last, LastIngestion: st.lastIngestion,
			StoredBytes: st.bytes,
			Arn:         "arn:aws:logs:" + defaultRegion + ":" + accountID + ":log-group:" + name + ":log-stream:" + st.name,
		})
	}
	if end < len(sts) {
		out.NextToken = strconv.Itoa(end)
	}
	return out, nil
}

// Serve answers a request of the CloudWatch Logs awsJson1_1 API (the operation in its
// X-Amz-Target header) with the given request ID.
func (s *Store) Serve(w http.ResponseWriter, r *http.Request, requestID string) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "Logs_20140328.")
	if !ok {
		WriteError(w, requestID, http.StatusBadRequest, errUnknownOperation, "unknown target "+target)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		WriteError(w, requestID, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	decode := func(v any) bool {
		if len(body) == 0 {
			return true
		}
		if err := json.Unmarshal(body, v); err != nil {
			WriteError(w, requestID, http.StatusBadRequest, "SerializationException", err.Error())
			return false
		}
		return true
	}
	var out any
	switch op {
	case "FilterLogEvents":
		var in filterInput
		if !decode(&in) {
			return
		}
		out, err = s.filter(&in)
	case "GetLogEvents":
		var in getEventsInput
		if !decode(&in) {
			return
		}
		out, err = s.getEvents(&in)
	case "DescribeLogGroups":
		var in describeGroupsInput
		if !decode(&in) {
			return
		}
		out = s.describeGroups(&in)
	case "DescribeLogStreams":
		var in describeStreamsInput
		if !decode(&in) {
			return
		}
		out, err = s.describeStreams(&in)
	default:
		err = &apiError{status: 400, typ: errUnknownOperation, msg: "operation " + op + " is not supported by the local platform"}
	}
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{status: http.StatusInternalServerError, typ: "ServiceUnavailableException", msg: err.Error()}
		}
		WriteError(w, requestID, ae.status, ae.typ, ae.msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", requestID)
	_ = json.NewEncoder(w).Encode(out)
}

// The account and region in the log groups' ARNs: the local platform's (platform/local).
const (
	accountID     = "000000000000"
	defaultRegion = "us-east-1"
)

// Error types of the CloudWatch Logs API the store answers with.
const (
	errResourceNotFound = "ResourceNotFoundException"
	errUnknownOperation = "UnknownOperationException"
)

// apiError is an error of the API: its HTTP status, type and message.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

// WriteError answers an awsJson1_1 request with an error in that protocol's shape: "__type"
// and "message" in the body.
func WriteError(w http.ResponseWriter, requestID string, status int, typ, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-RequestId", requestID)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}
