package privacy_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/phiguard/phiguard/shared/privacy"
)

func mustClassifier(t testing.TB, custom ...privacy.Matcher) *privacy.Classifier {
	t.Helper()
	c, err := privacy.NewClassifier(custom)
	if err != nil {
		t.Fatalf("NewClassifier: %v", err)
	}
	return c
}

func TestDefaultsFireOnCommonKeySpellings(t *testing.T) {
	c := mustClassifier(t)
	tests := []struct {
		name    string
		path    string
		class   privacy.Classification
		matcher string // "" when nothing may fire
	}{
		{name: "email fires on email", path: "traits.email", class: privacy.Yellow, matcher: "default-email"},
		{name: "email fires on emailAddress", path: "traits.emailAddress", class: privacy.Yellow, matcher: "default-email"},
		{name: "email fires on e_mail", path: "traits.e_mail", class: privacy.Yellow, matcher: "default-email"},
		{name: "email fires on E-Mail", path: "traits.E-Mail", class: privacy.Yellow, matcher: "default-email"},
		{name: "email fires on user_email", path: "properties.user_email", class: privacy.Yellow, matcher: "default-email"},
		{name: "email fires on an array of emails", path: "traits.emails[]", class: privacy.Yellow, matcher: "default-email"},
		{name: "ssn fires on ssn", path: "traits.ssn", class: privacy.Red, matcher: "default-social-security-number"},
		{name: "ssn fires on SocialSecurityNumber", path: "traits.SocialSecurityNumber", class: privacy.Red, matcher: "default-social-security-number"},
		{name: "ssn fires on patient_ssn", path: "properties.patient_ssn", class: privacy.Red, matcher: "default-social-security-number"},
		{name: "birthdate fires on dob", path: "traits.dob", class: privacy.Yellow, matcher: "default-birthdate"},
		{name: "birthdate fires on birthDate", path: "traits.birthDate", class: privacy.Yellow, matcher: "default-birthdate"},
		{name: "birthdate fires on date_of_birth", path: "traits.date_of_birth", class: privacy.Yellow, matcher: "default-birthdate"},
		{name: "birthdate fires on birthday, a Segment trait", path: "traits.birthday", class: privacy.Yellow, matcher: "default-birthdate"},
		{name: "zipcode fires on zip_code", path: "traits.address.zip_code", class: privacy.Yellow, matcher: "default-zipcode"},
		{name: "zipcode fires on postalCode", path: "traits.address.postalCode", class: privacy.Yellow, matcher: "default-zipcode"},
		{name: "phone fires on phoneNumber", path: "traits.phoneNumber", class: privacy.Yellow, matcher: "default-phone"},
		{name: "phone fires on mobile", path: "traits.mobile", class: privacy.Yellow, matcher: "default-phone"},
		{name: "ip fires on ip, the Segment context field", path: "context.ip", class: privacy.Yellow, matcher: "default-ip"},
		{name: "ip fires on ip_address before address does", path: "properties.ip_address", class: privacy.Yellow, matcher: "default-ip"},
		{name: "ip fires on clientIPv6", path: "properties.clientIPv6", class: privacy.Yellow, matcher: "default-ip"},
		{name: "ip fires on ipv4", path: "properties.ipv4", class: privacy.Yellow, matcher: "default-ip"},
		{name: "name fires on first_name", path: "traits.first_name", class: privacy.Yellow, matcher: "default-name"},
		{name: "name fires on lastName", path: "traits.lastName", class: privacy.Yellow, matcher: "default-name"},
		{name: "name fires on a bare name, the Segment trait", path: "traits.name", class: privacy.Yellow, matcher: "default-name"},
		{name: "address fires on billing_address", path: "properties.billing_address", class: privacy.Yellow, matcher: "default-address"},
		{name: "street fires on address_line_1", path: "traits.address_line_1", class: privacy.Yellow, matcher: "default-street"},
		{name: "city fires on city", path: "traits.address.city", class: privacy.Yellow, matcher: "default-city"},
		{name: "mac fires on macAddress", path: "context.device.macAddress", class: privacy.Yellow, matcher: "default-mac"},
		{name: "photo fires on avatar, a Segment trait", path: "traits.avatar", class: privacy.Yellow, matcher: "default-photo"},
		{name: "gender fires on gender, a Segment trait", path: "traits.gender", class: privacy.Yellow, matcher: "default-gender"},
		{name: "diagnosis fires on icd10_code", path: "properties.icd10_code", class: privacy.Yellow, matcher: "default-diagnosis"},
		{name: "identification fires on MRN", path: "properties.MRN", class: privacy.Yellow, matcher: "default-identification"},
		{name: "identification fires on patientId", path: "properties.patientId", class: privacy.Yellow, matcher: "default-identification"},
		{name: "medication fires on prescriptions", path: "properties.prescriptions[].drug", class: privacy.Yellow, matcher: "default-medication"},
		{name: "password fires on passwordHash", path: "traits.passwordHash", class: privacy.Red, matcher: "default-password"},
		{name: "credit card fires on creditCardNumber", path: "properties.creditCardNumber", class: privacy.Red, matcher: "default-credit-card"},
		{name: "token fires on access_token", path: "properties.access_token", class: privacy.Red, matcher: "default-token"},
		{name: "sexual orientation fires on sexualOrientation", path: "traits.sexualOrientation", class: privacy.Yellow, matcher: "default-sexual-orientation"},
		{name: "red beats yellow when both fire", path: "properties.email_password", class: privacy.Red, matcher: "default-password"},
		{name: "page_title is green", path: "properties.page_title", class: privacy.Green},
		{name: "revenue is green", path: "properties.revenue", class: privacy.Green},
		{name: "product_id is green", path: "properties.product_id", class: privacy.Green},
		{name: "order_id is green", path: "properties.order_id", class: privacy.Green},
		{name: "product_name is green", path: "properties.product_name", class: privacy.Green},
		{name: "userAgent is green", path: "context.userAgent", class: privacy.Green},
		{name: "velocity is green, city is a whole word", path: "properties.velocity", class: privacy.Green},
		{name: "tip_amount is green, ip is a whole word", path: "properties.tip_amount", class: privacy.Green},
		{name: "trace_id is green, defaults do not use similarity", path: "context.trace_id", class: privacy.Green},
		{name: "weather_condition is green, condition needs a medical qualifier", path: "properties.weather_condition", class: privacy.Green},
		{name: "a key without letters is green", path: "properties.__", class: privacy.Green},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := privacy.ParseFieldPath(tt.path); err != nil {
				t.Fatalf("test path is invalid: %v", err)
			}
			got, ok := c.Recommend(privacy.FieldPath(tt.path))
			if got.Classification != tt.class || got.MatcherID != tt.matcher || ok != (tt.matcher != "") {
				t.Errorf("Recommend(%s) = %+v, %v; want %s by %q", tt.path, got, ok, tt.class, tt.matcher)
			}
			if ok {
				d, _ := privacy.DefaultMatcher(got.MatcherID)
				if got.MatcherName != d.Name {
					t.Errorf("MatcherName = %q, want %q", got.MatcherName, d.Name)
				}
			}
		})
	}
}

func TestEveryDefaultFiresOnItsNameAndSynonyms(t *testing.T) {
	c := mustClassifier(t)
	for _, m := range privacy.Defaults() {
		if m.Target != privacy.TargetKey {
			continue
		}
		for _, term := range append([]string{m.Name}, m.Synonyms...) {
			key := strings.ReplaceAll(term, " ", "_")
			got, ok := c.Recommend(privacy.FieldPath("properties." + key))
			if !ok || got.MatcherID != m.ID {
				t.Errorf("key %q recommends %+v, want %s", key, got, m.ID)
			}
		}
	}
}

func TestCustomMatchers(t *testing.T) {
	overrideEmail := privacy.Matcher{ID: "c-email", Name: "Email", Classification: privacy.Red,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"contact"}}
	orderEmail := privacy.Matcher{ID: "c-order-email", Name: "order email", Classification: privacy.Green,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"order_email"}}
	similarMRN := privacy.Matcher{ID: "c-mrn", Name: "chart", Classification: privacy.Yellow,
		Target: privacy.TargetKey, Mode: privacy.ModeSimilar, Synonyms: []string{"medical record"}}
	edge := privacy.Matcher{ID: "c-edge", Name: "edge", Classification: privacy.Red,
		Target: privacy.TargetKey, Mode: privacy.ModeSimilar, Synonyms: []string{"abcdefghijk"}}
	keyRegex := privacy.Matcher{ID: "c-rx", Name: "member ref", Classification: privacy.Yellow,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Patterns: []string{`^mbr_\w+$`}}
	twoYellow := privacy.Matcher{ID: "c-y", Name: "plan", Classification: privacy.Yellow,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"plan code"}}
	twoRed := privacy.Matcher{ID: "c-r", Name: "plan secret", Classification: privacy.Red,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Patterns: []string{`\bplan\b`}}

	tests := []struct {
		name    string
		custom  []privacy.Matcher
		path    string
		class   privacy.Classification
		matcher string
	}{
		{name: "a custom matcher with a default's name overrides it", custom: []privacy.Matcher{overrideEmail},
			path: "traits.email", class: privacy.Red, matcher: "c-email"},
		{name: "an overridden default no longer fires on its own patterns", custom: []privacy.Matcher{overrideEmail},
			path: "traits.user_email", class: privacy.Green},
		{name: "an overriding matcher fires on its synonyms", custom: []privacy.Matcher{overrideEmail},
			path: "traits.contact", class: privacy.Red, matcher: "c-email"},
		{name: "other defaults still fire beside an override", custom: []privacy.Matcher{overrideEmail},
			path: "traits.phone", class: privacy.Yellow, matcher: "default-phone"},
		{name: "a custom matcher that fires wins over a stricter default", custom: []privacy.Matcher{orderEmail},
			path: "properties.orderEmail", class: privacy.Green, matcher: "c-order-email"},
		{name: "the default still fires where the custom matcher does not", custom: []privacy.Matcher{orderEmail},
			path: "properties.email", class: privacy.Yellow, matcher: "default-email"},
		{name: "a similar matcher fires on a near spelling", custom: []privacy.Matcher{similarMRN},
			path: "properties.medicalRecrd", class: privacy.Yellow, matcher: "c-mrn"},
		{name: "a similar matcher fires on an exact spelling", custom: []privacy.Matcher{similarMRN},
			path: "properties.medical_record", class: privacy.Yellow, matcher: "c-mrn"},
		{name: "a similarity of exactly 0.7 does not fire", custom: []privacy.Matcher{edge},
			path: "properties.abcdefghxyz", class: privacy.Green},
		{name: "a similarity of 0.8 fires", custom: []privacy.Matcher{edge},
			path: "properties.abcdefghiyz", class: privacy.Red, matcher: "c-edge"},
		{name: "a key pattern matches the key as written", custom: []privacy.Matcher{keyRegex},
			path: "properties.mbr_ref", class: privacy.Yellow, matcher: "c-rx"},
		{name: "a key pattern is matched as written, not loosely", custom: []privacy.Matcher{keyRegex},
			path: "properties.mbr-ref", class: privacy.Green},
		{name: "the name of a key matcher counts as a synonym", custom: []privacy.Matcher{keyRegex},
			path: "properties.memberRef", class: privacy.Yellow, matcher: "c-rx"},
		{name: "a key pattern also matches the normalized key", custom: []privacy.Matcher{{ID: "c-n", Name: "n",
			Classification: privacy.Red, Target: privacy.TargetKey, Mode: privacy.ModeExact, Patterns: []string{`^chart number$`}}},
			path: "properties.ChartNumber", class: privacy.Red, matcher: "c-n"},
		{name: "red beats yellow among custom matchers", custom: []privacy.Matcher{twoYellow, twoRed},
			path: "properties.planCode", class: privacy.Red, matcher: "c-r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustClassifier(t, tt.custom...)
			got, ok := c.Recommend(privacy.FieldPath(tt.path))
			if got.Classification != tt.class || got.MatcherID != tt.matcher || ok != (tt.matcher != "") {
				t.Errorf("Recommend(%s) = %+v, %v; want %s by %q", tt.path, got, ok, tt.class, tt.matcher)
			}
		})
	}
}

func TestClassifierMatchersLeavesOutOverriddenDefaults(t *testing.T) {
	override := privacy.Matcher{ID: "c-1", Name: "Zip Code", Classification: privacy.Red,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"zip"}}
	other := privacy.Matcher{ID: "c-2", Name: "zip codes", Classification: privacy.Red,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"zips"}}
	if n := len(mustClassifier(t, other).Matchers()); n != len(privacy.Defaults())+1 {
		t.Errorf("a differently named custom matcher: len(Matchers()) = %d, want %d", n, len(privacy.Defaults())+1)
	}
	c := mustClassifier(t, override)
	got := c.Matchers()
	if got[0].ID != "c-1" {
		t.Errorf("first matcher = %s, want the custom one", got[0].ID)
	}
	for _, m := range got {
		if m.ID == "default-zipcode" {
			t.Error("default-zipcode is still evaluated after a custom matcher named Zip Code")
		}
	}
	if n := len(c.Matchers()); n != len(privacy.Defaults()) {
		t.Errorf("len(Matchers()) = %d, want %d (one custom in, one default out)", n, len(privacy.Defaults()))
	}
}

func TestRecommendValue(t *testing.T) {
	mrnValue := privacy.Matcher{ID: "c-mrn-value", Name: "medical record number", Classification: privacy.Yellow,
		Target: privacy.TargetValue, Mode: privacy.ModeExact, Patterns: []string{`^MRN-\d{6}$`}}
	diagnosisValue := privacy.Matcher{ID: "c-dx", Name: "sensitive diagnosis", Classification: privacy.Red,
		Target: privacy.TargetValue, Mode: privacy.ModeSimilar, Synonyms: []string{"hiv positive"}}
	c := mustClassifier(t, mrnValue, diagnosisValue)
	tests := []struct {
		name    string
		path    string
		value   string
		class   privacy.Classification
		matcher string
	}{
		{name: "a custom regex value matcher fires", path: "properties.ref", value: "MRN-123456", class: privacy.Yellow, matcher: "c-mrn-value"},
		{name: "a custom regex value matcher is anchored as written", path: "properties.ref", value: "xMRN-123456", class: privacy.Green},
		{name: "a similar value matcher fires on a near value", path: "properties.note", value: "HIV-positive!", class: privacy.Red, matcher: "c-dx"},
		{name: "an email value is yellow", path: "properties.contact", value: "jane.doe+x@example.co.uk", class: privacy.Yellow, matcher: "default-email-value"},
		{name: "an SSN value is red", path: "properties.ref2", value: "123-45-6789", class: privacy.Red, matcher: "default-social-security-number-value"},
		{name: "an SSN that cannot be issued is green", path: "properties.ref2", value: "000-12-3456", class: privacy.Green},
		{name: "a card number passing Luhn is red", path: "properties.ref3", value: "4111 1111 1111 1111", class: privacy.Red, matcher: "default-credit-card-value"},
		{name: "an Amex number passing Luhn is red", path: "properties.ref3", value: "378282246310005", class: privacy.Red, matcher: "default-credit-card-value"},
		{name: "a Mastercard 2-series number passing Luhn is red", path: "properties.ref3", value: "2223-0031-2200-3222", class: privacy.Red, matcher: "default-credit-card-value"},
		{name: "a card-like number failing Luhn is green", path: "properties.ref3", value: "4111111111111112", class: privacy.Green},
		{name: "a Luhn-valid number with no card prefix is green", path: "properties.ref3", value: "1234567812345670", class: privacy.Green},
		{name: "a North American phone number is yellow", path: "properties.ref4", value: "+1 (555) 234-5678", class: privacy.Yellow, matcher: "default-phone-value"},
		{name: "an E.164 phone number is yellow", path: "properties.ref4", value: "+442079460958", class: privacy.Yellow, matcher: "default-phone-value"},
		{name: "a bare ten-digit id is not a phone number", path: "properties.ref4", value: "5552345678", class: privacy.Green},
		{name: "an IPv4 address is yellow", path: "properties.origin", value: "192.168.10.20", class: privacy.Yellow, matcher: "default-ip-value"},
		{name: "an IPv6 address is yellow", path: "properties.origin", value: "2001:db8::1", class: privacy.Yellow, matcher: "default-ip-value"},
		{name: "a two-part version is not an address", path: "properties.origin", value: "1.2", class: privacy.Green},
		{name: "a MAC address is yellow", path: "properties.hw", value: "00:1A:2B:3C:4D:5E", class: privacy.Yellow, matcher: "default-mac-value"},
		{name: "a red value beats a yellow key", path: "traits.email", value: "123-45-6789", class: privacy.Red, matcher: "default-social-security-number-value"},
		{name: "a yellow key is kept when the value is plain", path: "traits.email", value: "hello", class: privacy.Yellow, matcher: "default-email"},
		{name: "a plain value under a plain key is green", path: "properties.title", value: "Welcome", class: privacy.Green},
		{name: "an oversize value is judged by its key alone", path: "properties.blob", value: "123-45-6789" + strings.Repeat(" ", privacy.MaxValueLen), class: privacy.Green},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.RecommendValue(privacy.FieldPath(tt.path), tt.value)
			if got.Classification != tt.class || got.MatcherID != tt.matcher || ok != (tt.matcher != "") {
				t.Errorf("RecommendValue(%s, …) = %+v, %v; want %s by %q", tt.path, got, ok, tt.class, tt.matcher)
			}
			if strings.Contains(fmt.Sprintf("%+v", got), tt.value) && tt.value != "" {
				t.Error("the recommendation contains the value")
			}
		})
	}
	t.Run("RecommendByValue is RecommendValue for keys no matcher fires on", func(t *testing.T) {
		for _, tt := range tests {
			if _, keyed := c.Recommend(privacy.FieldPath(tt.path)); keyed {
				continue
			}
			want, wantOK := c.RecommendValue(privacy.FieldPath(tt.path), tt.value)
			if got, ok := c.RecommendByValue(tt.value); got != want || ok != wantOK {
				t.Errorf("%s: RecommendByValue = %+v, %v; RecommendValue = %+v, %v", tt.name, got, ok, want, wantOK)
			}
		}
	})
	t.Run("value matchers do not run without a value", func(t *testing.T) {
		if got, ok := c.Recommend("properties.ref"); ok || got.Classification != privacy.Green {
			t.Errorf("Recommend(properties.ref) = %+v, %v; want green, nothing fired", got, ok)
		}
	})
}

func TestNewClassifierRefusesBadMatchers(t *testing.T) {
	valid := validMatcher()
	badRegex := valid
	badRegex.Patterns = []string{"(abc"}
	t.Run("an invalid regular expression is refused with the matcher and field", func(t *testing.T) {
		_, err := privacy.NewClassifier([]privacy.Matcher{valid, badRegex})
		var inv *privacy.InvalidError
		if !errors.As(err, &inv) || inv.Field != "patterns[0]" {
			t.Fatalf("NewClassifier = %v, want *InvalidError for patterns[0]", err)
		}
		if !strings.Contains(err.Error(), "custom matcher 1") {
			t.Errorf("error %q does not name the matcher's position", err)
		}
	})
	t.Run("a default passed as custom is refused", func(t *testing.T) {
		_, err := privacy.NewClassifier(privacy.Defaults()[:1])
		if !errors.Is(err, privacy.ErrInvalid) {
			t.Fatalf("NewClassifier(defaults) = %v, want ErrInvalid", err)
		}
	})
	t.Run("100 custom matchers are accepted", func(t *testing.T) {
		if _, err := privacy.NewClassifier(manyMatchers(privacy.MaxCustomMatchers)); err != nil {
			t.Fatalf("NewClassifier(100) = %v", err)
		}
	})
	t.Run("101 custom matchers are refused with the limit", func(t *testing.T) {
		_, err := privacy.NewClassifier(manyMatchers(privacy.MaxCustomMatchers + 1))
		if !errors.Is(err, privacy.ErrTooManyMatchers) || !strings.Contains(err.Error(), "at most 100") {
			t.Fatalf("NewClassifier(101) = %v, want ErrTooManyMatchers naming 100", err)
		}
	})
	t.Run("a pattern with an unterminated quote still compiles on its own", func(t *testing.T) {
		m := valid
		m.Patterns = []string{`^a\Q.b`, `^zz$`}
		c := mustClassifier(t, m)
		if got, _ := c.Recommend("properties.a.b"); got.MatcherID == m.ID {
			t.Error("key a (from path properties.a.b) matched the literal a.b")
		}
		if got, _ := c.Recommend("properties.zz"); got.MatcherID != m.ID {
			t.Errorf("the second pattern did not fire: %+v", got)
		}
	})
}

func manyMatchers(n int) []privacy.Matcher {
	out := make([]privacy.Matcher, n)
	for i := range out {
		m := validMatcher()
		m.ID = fmt.Sprintf("c-%d", i)
		m.Name = fmt.Sprintf("custom %d", i)
		out[i] = m
	}
	return out
}

func TestRecommendIsSafeForConcurrentUse(t *testing.T) {
	c := mustClassifier(t, manyMatchers(10)...)
	paths := []privacy.FieldPath{"traits.email", "properties.revenue", "traits.ssn", "properties.mrn"}
	want := make([]privacy.Recommendation, len(paths))
	for i, p := range paths {
		want[i], _ = c.Recommend(p)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				p := paths[i%len(paths)]
				if got, _ := c.RecommendValue(p, "jane@example.com"); got.Classification == "" {
					errs <- "empty classification"
					return
				}
				if got, _ := c.Recommend(p); got != want[i%len(paths)] {
					errs <- fmt.Sprintf("Recommend(%s) = %+v, want %+v", p, got, want[i%len(paths)])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestRecommendDoesNotAllocate(t *testing.T) {
	c := mustClassifier(t, manyMatchers(5)...)
	tests := []struct {
		name string
		run  func()
	}{
		{name: "a green key does not allocate", run: func() { c.Recommend("properties.page_title") }},
		{name: "a yellow key does not allocate", run: func() { c.Recommend("traits.user_email") }},
		{name: "a value does not allocate", run: func() { c.RecommendValue("properties.contact", "jane@example.com") }},
		{name: "a value alone does not allocate", run: func() { c.RecommendByValue("jane@example.com") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run()
			limit := 0.0
			if raceEnabled {
				limit = 8 // the pool drops buffers on purpose; still bounded
			}
			if n := testing.AllocsPerRun(200, tt.run); n > limit {
				t.Errorf("%v allocations per call, want at most %v", n, limit)
			}
		})
	}
}

// BenchmarkRecommend measures Recommend with the defaults and ten custom
// matchers, and reports its cost as a multiple of a naive baseline measured in
// the same run (the first sub-benchmark): lower-casing the key and looking it
// up in a set of the default names, which is what an exact-only matcher would do.
func BenchmarkRecommend(b *testing.B) {
	c := mustClassifier(b, manyMatchers(10)...)
	names := map[string]bool{}
	for _, m := range privacy.Defaults() {
		names[m.Name] = true
	}
	var base float64 // ns per naive lookup
	b.Run("baseline naive lookup", func(b *testing.B) {
		b.ReportAllocs()
		p := privacy.FieldPath("traits.User_Email")
		hits := 0
		for b.Loop() {
			if names[strings.ToLower(p.Key())] {
				hits++
			}
		}
		base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if hits != 0 {
			b.Fatal("the baseline matched User_Email exactly")
		}
	})
	cases := []struct {
		name, path, value string
	}{
		{name: "green key", path: "properties.page_title"},
		{name: "yellow key", path: "traits.user_email"},
		{name: "red key", path: "traits.SocialSecurityNumber"},
		{name: "key and email value", path: "properties.contact", value: "jane@example.com"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			p := privacy.FieldPath(bc.path)
			for b.Loop() {
				if bc.value == "" {
					c.Recommend(p)
				} else {
					c.RecommendValue(p, bc.value)
				}
			}
			if base > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/base, "x-baseline")
			}
		})
	}
}
