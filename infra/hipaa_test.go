package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/phiguard/phiguard/shared/console"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
)

// hipaaDoc is docs/HIPAA.md, relative to this package.
const hipaaDoc = "../docs/HIPAA.md"

// tableRows returns the rows of the Markdown table under the heading, each split into its
// trimmed cells; the header and separator rows are left out.
func tableRows(t *testing.T, md, heading string) [][]string {
	t.Helper()
	_, section, ok := strings.Cut(md, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", hipaaDoc, heading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var rows [][]string
	seenHeader := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		if !seenHeader || strings.HasPrefix(line, "|---") {
			seenHeader = true
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), " | ") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

var (
	citedTest = regexp.MustCompile("`([a-z][a-z0-9_/]*)\\.(Test[A-Za-z0-9_]+)`")
	citedFile = regexp.MustCompile("`([a-z][a-zA-Z0-9_/.-]*(\\.go|/))`")
	testFunc  = regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]+)\(t \*testing\.T\)`)
)

// testsIn returns the names of the test functions of the package in directory dir (relative to
// the repository's root).
func testsIn(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	return names
}

// The safeguards table of docs/HIPAA.md has a row for every standard and implementation
// specification of §164.312 and the three administrative items; every row names at least one
// test; every test it names exists, as a top-level Go test of the package it names; and every
// file it names exists. So the document cannot cite evidence that is not there.
func TestHIPAADocumentCitesOnlyTestsThatExist(t *testing.T) {
	raw, err := os.ReadFile(hipaaDoc)
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	rows := tableRows(t, md, "## Safeguards")
	want := []string{
		"§164.312(a)(1) ", "§164.312(a)(2)(i) ", "§164.312(a)(2)(ii) ", "§164.312(a)(2)(iii) ", "§164.312(a)(2)(iv) ",
		"§164.312(b) ", "§164.312(c)(1) ", "§164.312(c)(2) ", "§164.312(d) ", "§164.312(e)(1) ", "§164.312(e)(2)(i) ",
		"§164.312(e)(2)(ii) ", "§164.308(a)(1)(ii)(D) ", "§164.308(a)(5)(ii)(C) ", "§164.316(b)(2) ",
	}
	if len(rows) != len(want) {
		t.Errorf("the safeguards table has %d rows, want %d (one per specification)", len(rows), len(want))
	}
	packages := map[string]map[string]bool{}
	cited := 0
	for i, row := range rows {
		if len(row) != 4 {
			t.Errorf("row %d has %d cells, want 4 (specification, mechanism, customer, tests): %v", i+1, len(row), row)
			continue
		}
		if i < len(want) && !strings.HasPrefix(row[0], want[i]) {
			t.Errorf("row %d is %q, want the row of %s", i+1, row[0], want[i])
		}
		if row[1] == "" || row[2] == "" {
			t.Errorf("%s: the mechanism and the customer's responsibility must both be stated", row[0])
		}
		tests := citedTest.FindAllStringSubmatch(row[3], -1)
		if len(tests) == 0 {
			t.Errorf("%s names no test", row[0])
		}
		for _, m := range tests {
			pkg, name := m[1], m[2]
			if packages[pkg] == nil {
				packages[pkg] = testsIn(t, pkg)
			}
			if !packages[pkg][name] {
				t.Errorf("%s cites %s.%s, which is not a test of %s", row[0], pkg, name, pkg)
			}
			cited++
		}
		for _, m := range citedFile.FindAllStringSubmatch(row[1], -1) {
			if _, err := os.Stat(filepath.Join("..", m[1])); err != nil {
				t.Errorf("%s names %s, which does not exist", row[0], m[1])
			}
		}
	}
	if cited < len(want) {
		t.Errorf("only %d tests cited", cited)
	}
	// The document never claims what only a covered entity's program can be.
	if strings.Contains(strings.ToLower(strings.ReplaceAll(md, `does not make anyone "HIPAA compliant"`, "")), "hipaa compliant") {
		t.Error(`docs/HIPAA.md calls something "HIPAA compliant"`)
	}
}

// plain formats a template number as written (JSON numbers decode as float64), anything else as is.
func plain(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// wholeDays returns d in whole days, as the retention table states them.
func wholeDays(d time.Duration) int { return int(d / (24 * time.Hour)) }

// The retention table of docs/HIPAA.md states what the stack and the code enforce: each row's
// figures are checked here against the synthesized template and the Go constants.
func TestRetentionIsWhatTheHIPAADocumentStates(t *testing.T) {
	raw, err := os.ReadFile(hipaaDoc)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, row := range tableRows(t, string(raw), "## Retention") {
		rows[row[0]] = strings.Join(row[1:], " | ")
	}
	s := synth(t)
	row := func(prefix string) string {
		t.Helper()
		for k, v := range rows {
			if strings.HasPrefix(k, prefix) {
				return v
			}
		}
		t.Errorf("the retention table has no row for %s", prefix)
		return ""
	}
	states := func(prefix string, facts ...string) {
		t.Helper()
		r := row(prefix)
		for _, f := range facts {
			if !strings.Contains(r, f) {
				t.Errorf("retention of %s: the document says %q, which does not state %q", prefix, r, f)
			}
		}
	}

	// Code: the grace period, session limits, TTLs, audit retention.
	states("workspace configuration", fmt.Sprintf("%d days", wholeDays(phi.ClosureGracePeriod)), "phi.ClosureGracePeriod")
	states("console sessions", fmt.Sprintf("%d minutes idle", int(console.IdleTimeout.Minutes())), fmt.Sprintf("%d hours at most", int(console.MaxSessionAge.Hours())))
	states("failed sign-in counters", fmt.Sprintf("%d-minute windows", int(console.SignInWindow.Minutes())))
	states("idempotency records and pending keys", fmt.Sprintf("%d hour", int(keygen.PendingKeyTTL.Hours())))
	if dynamo.AuditRetention != 7*365*24*time.Hour || dynamo.AuditRetention < 6*366*24*time.Hour {
		t.Errorf("dynamo.AuditRetention is %v", dynamo.AuditRetention)
	}
	states("audit records and checkpoints", "7 years", "dynamo.AuditRetention")

	// The table: TTL on expiresAt and point-in-time recovery.
	for id, tbl := range s.resources("AWS::DynamoDB::Table") {
		p := props(tbl)
		if toJSON(p["TimeToLiveSpecification"]) != `{"AttributeName":"`+dynamo.Table.TTLAttribute+`","Enabled":true}` {
			t.Errorf("table %s: TTL %s", id, toJSON(p["TimeToLiveSpecification"]))
		}
		if toJSON(p["PointInTimeRecoverySpecification"]) == "null" || !strings.Contains(toJSON(p["PointInTimeRecoverySpecification"]), `"PointInTimeRecoveryEnabled":true`) {
			t.Errorf("table %s: point-in-time recovery %s", id, toJSON(p["PointInTimeRecoverySpecification"]))
		}
	}
	for _, prefix := range []string{"console sessions", "failed sign-in counters", "idempotency records", "audit records"} {
		states(prefix, "TTL attribute `"+dynamo.Table.TTLAttribute+"`")
	}

	// Backups.
	var deleteAfter []string
	for _, plan := range s.resources("AWS::Backup::BackupPlan") {
		rules, _ := props(plan)["BackupPlan"].(map[string]any)["BackupPlanRule"].([]any)
		for _, r := range rules {
			lc, _ := r.(map[string]any)["Lifecycle"].(map[string]any)
			deleteAfter = append(deleteAfter, plain(lc["DeleteAfterDays"]))
		}
	}
	if strings.Join(deleteAfter, ",") != "35,2557" {
		t.Errorf("backup rules delete after %v days, want 35 and 2557", deleteAfter)
	}
	states("table backups", "`DeleteAfterDays` 35 and 2557", "35 days", "7 years")

	// Queues.
	queues := s.resources("AWS::SQS::Queue")
	if len(queues) == 0 {
		t.Fatal("no queues")
	}
	for id, q := range queues {
		if got := plain(props(q)["MessageRetentionPeriod"]); got != "1209600" {
			t.Errorf("queue %s keeps messages %s seconds, want 1209600 (14 days)", id, got)
		}
	}
	states("ingest queue, rejected-event queue, dead-letter queues", "14 days", "1209600 seconds on every queue")

	// Logs: the functions' groups one year, the API's access logs six years.
	access := idOf(s.svc.Stack, s.svc.API.AccessLogs.Node().DefaultChild().(awscdk.CfnElement))
	functionGroups := map[string]bool{}
	for _, fn := range s.resources("AWS::Lambda::Function") {
		if lg, ok := props(fn)["LoggingConfig"].(map[string]any)["LogGroup"].(map[string]any); ok {
			if ref, ok := lg["Ref"].(string); ok {
				functionGroups[ref] = true
			}
		}
	}
	if len(functionGroups) == 0 {
		t.Fatal("no function log groups found")
	}
	for id, g := range s.resources("AWS::Logs::LogGroup") {
		got := plain(props(g)["RetentionInDays"])
		switch {
		case functionGroups[id] && got != "365":
			t.Errorf("function log group %s keeps logs %s days, want 365", id, got)
		case id == access && got != "2192":
			t.Errorf("the API access log group keeps logs %s days, want 2192 (six years)", got)
		case got != "365" && got != "2192":
			t.Errorf("log group %s keeps logs %s days, which the retention table does not state", id, got)
		}
	}
	states("function logs", "1 year", "`RetentionInDays` 365")
	states("API access logs", "6 years", "`RetentionInDays` 2192")

	// KMS keys.
	for id, k := range s.resources("AWS::KMS::Key") {
		if k["DeletionPolicy"] != "Retain" || plain(props(k)["PendingWindowInDays"]) != "30" {
			t.Errorf("key %s: deletion %v, pending window %v", id, k["DeletionPolicy"], props(k)["PendingWindowInDays"])
		}
	}
	states("KMS keys", "`DeletionPolicy: Retain`", "`PendingWindowInDays` 30")
}
