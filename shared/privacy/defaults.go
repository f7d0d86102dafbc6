package privacy

import (
	"net/netip"
	"strings"
)

// builtin describes one default matcher name. Every name gets a key matcher;
// names whose values have a recognisable shape also get a value matcher with
// the same name.
type builtin struct {
	name     string
	class    Classification
	synonyms []string
	// keyPatterns run on the normalized key (lower-case words separated by
	// single spaces), so \b marks word boundaries: "user_email" is
	// "user email" and matches \bemail\b.
	keyPatterns   []string
	valuePatterns []string
	valueCheck    func(string) bool
}

// builtins lists the default matchers of the seed's platform, exactly the
// names in DESIGN.md. Red comes first; within a classification, more specific
// names come before broader ones (email, ip and mac before address), because
// when matchers of equal strength fire the earlier one is reported.
//
// Defaults compare terms exactly and use word patterns for keys that contain
// a term ("billing_address"). They never use similarity: for short terms it
// misfires (Dice("race", "trace") = 0.86, Dice("sex", "sexy") = 0.8).
var builtins = []builtin{
	// Red: highly restricted.
	{
		name:  "social security number",
		class: Red,
		synonyms: []string{"ssn", "social_security_number", "social security no", "social security",
			"ss number", "social insurance number", "sin number", "national insurance number", "tax id", "itin"},
		keyPatterns:   []string{`\bssns?\b`, `\bsocial (?:security|insurance)\b`, `\bnational insurance\b`},
		valuePatterns: []string{`^\d{3}-\d{2}-\d{4}$`, `^\d{3} \d{2} \d{4}$`},
		valueCheck:    validSSN,
	},
	{
		name:        "password",
		class:       Red,
		synonyms:    []string{"password", "passwd", "pwd", "pass", "passphrase", "pass phrase", "passcode", "pin code"},
		keyPatterns: []string{`\bpass ?(?:word|wd|phrase|code)s?\b`, `\bpwd\b`},
	},
	{
		name:        "visa",
		class:       Red,
		synonyms:    []string{"visa number", "visa status", "visa type", "immigration visa"},
		keyPatterns: []string{`\bvisas?\b`},
	},
	{
		name:        "veteran",
		class:       Red,
		synonyms:    []string{"veteran status", "is veteran", "military status", "military service", "service member"},
		keyPatterns: []string{`\bveterans?\b`, `\bmilitary (?:status|service|branch)\b`},
	},
	{
		name:        "disability",
		class:       Red,
		synonyms:    []string{"disabilities", "disability status", "handicap", "impairment"},
		keyPatterns: []string{`\bdisabilit(?:y|ies)\b`, `\bhandicap(?:ped)?\b`},
	},
	{
		name:  "credit card",
		class: Red,
		synonyms: []string{"credit_card_number", "cc number", "ccn", "card number", "card no", "pan",
			"cvv", "cvc", "cvv2", "card verification", "card expiry"},
		keyPatterns: []string{`\bcredit ?cards?\b`, `\b(?:cc|card) ?(?:number|num|no)\b`, `\b(?:cvv|cvc|csc)\b`,
			`\bcard (?:verification|security|expiry|expiration)\b`},
		valuePatterns: []string{`^\d(?:[ -]?\d){12,18}$`},
		valueCheck:    validCardNumber,
	},
	{
		name:        "passport",
		class:       Red,
		synonyms:    []string{"passport number", "passport no", "passport id", "travel document number"},
		keyPatterns: []string{`\bpassports?\b`},
	},
	{
		name:  "token",
		class: Red,
		synonyms: []string{"access token", "auth token", "refresh token", "id token", "bearer token",
			"session token", "api key", "apikey", "secret", "client secret", "private key", "secret key"},
		keyPatterns: []string{`\btokens?\b`, `\bapi ?keys?\b`, `\b(?:client|api|app) secret\b`, `\b(?:private|secret) keys?\b`},
	},

	// Yellow: moderately restricted.
	{
		name:        "race",
		class:       Yellow,
		synonyms:    []string{"racial", "racial group", "racial identity", "race category"},
		keyPatterns: []string{`\brace\b`, `\bracial\b`},
	},
	{
		name:  "birthdate",
		class: Yellow,
		synonyms: []string{"birth date", "date of birth", "dob", "date_of_birth", "birthday", "birth day",
			"birth year", "year of birth", "bday"},
		keyPatterns: []string{`\bbirth ?(?:date|day|year)s?\b`, `\b(?:date|year) of birth\b`, `\bdob\b`},
	},
	{
		name:  "phone",
		class: Yellow,
		synonyms: []string{"phone_number", "phone number", "telephone", "tel", "mobile", "mobile number",
			"mobile phone", "cell", "cell phone", "cellphone", "fax", "fax number", "msisdn"},
		keyPatterns: []string{`\b(?:tele|cell)?phones?\b`, `\b(?:mobile|cell|fax|tel) (?:number|num|no)\b`, `\bmsisdn\b`},
		valuePatterns: []string{
			// North American numbers with at least the last separator, so a
			// bare ten-digit id is not taken for a phone number.
			`^(?:\+?1[-. ]?)?\(?[2-9]\d{2}\)?[-. ]?[2-9]\d{2}[-. ]\d{4}$`,
			// International numbers in E.164 form, separators allowed.
			`^\+[1-9](?:[ .-]?\d){7,14}$`,
		},
	},
	{
		name:          "email",
		class:         Yellow,
		synonyms:      []string{"email address", "e mail", "email_address", "mail", "mail address"},
		keyPatterns:   []string{`\be ?mails?\b`},
		valuePatterns: []string{`^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$`},
	},
	{
		name:     "ip",
		class:    Yellow,
		synonyms: []string{"ip address", "ip_address", "ipv4", "ipv6", "ip addr", "client ip", "remote ip", "remote addr"},
		// "IPv6" normalizes to "i pv 6": the acronym rule reads the P as
		// starting the word "Pv".
		keyPatterns:   []string{`\bip(?: ?v ?[46])?\b`, `\bi pv ?[46]\b`, `\bremote addr(?:ess)?\b`},
		valuePatterns: []string{`^[0-9A-Fa-f:.]{2,45}$`},
		valueCheck:    validIP,
	},
	{
		name:          "mac",
		class:         Yellow,
		synonyms:      []string{"mac address", "mac_address", "macaddr", "hardware address", "wifi mac"},
		keyPatterns:   []string{`\bmac ?addr(?:ess)?\b`, `\bhardware address\b`},
		valuePatterns: []string{`^(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$`},
	},
	{
		name:        "street",
		class:       Yellow,
		synonyms:    []string{"street address", "street name", "street line", "address line 1", "address line 2", "address1", "address2"},
		keyPatterns: []string{`\bstreets?\b`, `\baddress (?:line )?[12]\b`},
	},
	{
		name:  "address",
		class: Yellow,
		synonyms: []string{"home address", "mailing address", "postal address", "billing address",
			"shipping address", "residential address", "addr"},
		keyPatterns: []string{`\baddress(?:es)?\b`, `\baddr\b`},
	},
	{
		name:        "gender",
		class:       Yellow,
		synonyms:    []string{"gender identity", "pronouns"},
		keyPatterns: []string{`\bgenders?\b`, `\bpronouns?\b`},
	},
	{
		name:        "ethnicity",
		class:       Yellow,
		synonyms:    []string{"ethnic group", "ethnic origin", "ethnic", "ethnicities"},
		keyPatterns: []string{`\bethnic(?:ity|ities)?\b`},
	},
	{
		name:        "citizenship",
		class:       Yellow,
		synonyms:    []string{"nationality", "citizen", "country of citizenship", "immigration status", "residency status"},
		keyPatterns: []string{`\bcitizen(?:ship)?\b`, `\bnationality\b`, `\bimmigration status\b`},
	},
	{
		name:  "name",
		class: Yellow,
		synonyms: []string{"first_name", "first name", "last_name", "last name", "full_name", "full name",
			"given name", "family name", "surname", "middle name", "maiden name", "legal name", "fname",
			"lname", "nickname", "username", "display name"},
		// Only qualified names: "product_name" or "event_name" are not people.
		keyPatterns: []string{
			`\b(?:first|last|middle|full|given|family|legal|maiden|nick|patient|customer|contact|member|user|display|person|parent|guardian|spouse|child|recipient|sender|cardholder|account holder|emergency contact) ?names?\b`,
			`\bsurnames?\b`, `\b[fl]name\b`,
		},
	},
	{
		name:        "city",
		class:       Yellow,
		synonyms:    []string{"town", "city name", "hometown", "municipality", "locality"},
		keyPatterns: []string{`\bcity\b`, `\bhome ?town\b`},
	},
	{
		name:  "zipcode",
		class: Yellow,
		synonyms: []string{"zip", "zip code", "zip_code", "postal code", "postal_code", "postcode", "post code",
			"zip4", "zip plus 4"},
		keyPatterns: []string{`\bzip(?: ?codes?)?\b`, `\bzip ?4\b`, `\bpost(?:al)? ?codes?\b`},
	},
	{
		name:        "certificate",
		class:       Yellow,
		synonyms:    []string{"certificate number", "certificate id", "cert number", "certification number", "birth certificate"},
		keyPatterns: []string{`\bcertificates?\b`, `\bcert (?:number|num|no|id)\b`, `\bcertification (?:number|id)\b`},
	},
	{
		name:  "license",
		class: Yellow,
		synonyms: []string{"licence", "license number", "licence number", "driver license", "drivers license",
			"driving licence", "dl number", "license plate", "professional license"},
		keyPatterns: []string{`\blicen[cs]es?\b`, `\bdl (?:number|num|no)\b`},
	},
	{
		name:  "identification",
		class: Yellow,
		synonyms: []string{"identification number", "id number", "national id", "government id", "id card",
			"identity card", "identity number", "patient id", "medical record number", "mrn", "member id",
			"health plan id", "insurance id", "policy number", "beneficiary id", "account number"},
		// Only qualified ids: "product_id" or "order_id" identify no person.
		keyPatterns: []string{
			`\bidentification\b`, `\bidentity (?:number|card|document)\b`, `\bid (?:number|card|document)\b`,
			`\b(?:national|government|gov|state|patient|member|subscriber|insurance|health plan|beneficiary|medicare|medicaid) (?:id|identifier|number)\b`,
			`\bmedical record\b`, `\bmrn\b`, `\bpolicy number\b`, `\baccount number\b`,
		},
	},
	{
		name:  "serial",
		class: Yellow,
		synonyms: []string{"serial number", "serial no", "serial_number", "device serial", "imei", "meid", "udid",
			"advertising id", "idfa", "gaid"},
		keyPatterns: []string{`\bserials?\b`, `\b(?:imei|meid|udid|idfa|gaid)\b`, `\badvertising id\b`},
	},
	{
		name:  "photo",
		class: Yellow,
		synonyms: []string{"photograph", "picture", "avatar", "profile picture", "profile photo", "profile image",
			"selfie", "headshot", "face image"},
		keyPatterns: []string{`\bphotos?\b`, `\bphotographs?\b`, `\bprofile (?:picture|pic|image)\b`, `\bavatars?\b`, `\bselfies?\b`, `\bheadshots?\b`},
	},
	{
		name:        "salary",
		class:       Yellow,
		synonyms:    []string{"salaries", "income", "annual income", "household income", "wage", "wages", "compensation", "pay rate"},
		keyPatterns: []string{`\bsalar(?:y|ies)\b`, `\bincome\b`, `\bwages?\b`, `\bcompensation\b`, `\bpay rate\b`},
	},
	{
		name:        "religion",
		class:       Yellow,
		synonyms:    []string{"religious affiliation", "religious", "faith", "denomination"},
		keyPatterns: []string{`\breligio(?:n|ns|us)\b`},
	},
	{
		name:        "sexual orientation",
		class:       Yellow,
		synonyms:    []string{"sexuality", "sexual preference", "sexual_orientation"},
		keyPatterns: []string{`\bsexual (?:orientation|preference)s?\b`, `\bsexuality\b`},
	},
	{
		name:        "sex",
		class:       Yellow,
		synonyms:    []string{"biological sex", "sex at birth", "assigned sex"},
		keyPatterns: []string{`\bsex\b`},
	},
	{
		name:  "medication",
		class: Yellow,
		synonyms: []string{"medications", "medicine", "drug", "drugs", "prescription", "prescriptions", "rx",
			"dosage", "meds", "drug name"},
		keyPatterns: []string{`\bmedications?\b`, `\bmedicines?\b`, `\bprescriptions?\b`, `\bdrugs?\b`, `\brx\b`, `\bdosages?\b`},
	},
	{
		name:        "allergy",
		class:       Yellow,
		synonyms:    []string{"allergies", "allergen", "allergens", "allergic to"},
		keyPatterns: []string{`\ballerg(?:y|ies|ens?|ic)\b`},
	},
	{
		name:  "condition",
		class: Yellow,
		synonyms: []string{"conditions", "medical condition", "health condition", "chronic condition",
			"pre existing condition", "preexisting condition", "underlying condition"},
		// Only qualified: "weather_condition" or "terms_and_conditions" are not health data.
		keyPatterns: []string{`\b(?:medical|health|chronic|pre ?existing|underlying|patient) conditions?\b`},
	},
	{
		name:  "diagnosis",
		class: Yellow,
		synonyms: []string{"diagnoses", "diagnosis code", "diagnostic", "dx", "icd", "icd code", "icd10",
			"icd 10", "icd9"},
		keyPatterns: []string{`\bdiagnos(?:is|es|tic|tics|ed)\b`, `\bicd(?: ?(?:9|10|11))?\b`, `\bdx\b`},
	},
	{
		name:  "procedure",
		class: Yellow,
		synonyms: []string{"procedures", "procedure code", "medical procedure", "surgical procedure", "surgery",
			"cpt", "cpt code", "hcpcs"},
		// Only qualified: "stored_procedure" is not health data.
		keyPatterns: []string{`\b(?:medical|surgical|clinical|patient) procedures?\b`, `\bprocedure codes?\b`, `\b(?:cpt|hcpcs)\b`, `\bsurger(?:y|ies)\b`},
	},
}

// defaultMatchers is built once from builtins; Defaults hands out copies.
var defaultMatchers = buildDefaults()

func buildDefaults() []Matcher {
	var out []Matcher
	for _, b := range builtins {
		slug := DefaultIDPrefix + strings.ReplaceAll(b.name, " ", "-")
		out = append(out, Matcher{
			ID:             slug,
			Name:           b.name,
			Classification: b.class,
			Target:         TargetKey,
			Mode:           ModeExact,
			Patterns:       b.keyPatterns,
			Synonyms:       b.synonyms,
			Default:        true,
		})
		if len(b.valuePatterns) > 0 {
			out = append(out, Matcher{
				ID:             slug + "-value",
				Name:           b.name,
				Classification: b.class,
				Target:         TargetValue,
				Mode:           ModeExact,
				Patterns:       b.valuePatterns,
				Default:        true,
				check:          b.valueCheck,
			})
		}
	}
	return out
}

// Defaults returns the built-in matchers every workspace ships with: one key
// matcher per default name in DESIGN.md (IDs "default-<name>") and, for
// email, phone, ip, mac, social security number and credit card, a value
// matcher of the same name (IDs "default-<name>-value"). The slice and its
// contents are fresh copies the caller may keep.
func Defaults() []Matcher {
	out := make([]Matcher, len(defaultMatchers))
	for i, m := range defaultMatchers {
		// Clone, and never nil: a matcher's lists encode as [] (the API's schema says array).
		m.Patterns = append([]string{}, m.Patterns...)
		m.Synonyms = append([]string{}, m.Synonyms...)
		out[i] = m
	}
	return out
}

// DefaultMatcher returns the built-in matcher with the given ID, or false.
func DefaultMatcher(id string) (Matcher, bool) {
	for _, m := range defaultMatchers {
		if m.ID == id {
			m.Patterns = append([]string{}, m.Patterns...)
			m.Synonyms = append([]string{}, m.Synonyms...)
			return m, true
		}
	}
	return Matcher{}, false
}

// validSSN accepts the shapes the SSN patterns match only if the number could
// be issued: area not 000, 666 or 900–999, group not 00, serial not 0000.
func validSSN(v string) bool {
	var d [9]byte
	n := 0
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= '0' && c <= '9' {
			if n == len(d) {
				return false
			}
			d[n] = c
			n++
		}
	}
	if n != len(d) {
		return false
	}
	area := string(d[:3])
	return area != "000" && area != "666" && d[0] != '9' &&
		string(d[3:5]) != "00" && string(d[5:]) != "0000"
}

// validCardNumber accepts 13 to 19 digits (spaces and hyphens ignored) that
// start like a payment card — 2221–2720 (Mastercard) or 3, 4, 5, 6 (the
// travel, banking and merchandising issuers) — and pass the Luhn check.
func validCardNumber(v string) bool {
	var d [19]byte
	n := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return false
			}
			d[n] = c - '0'
			n++
		case c == ' ' || c == '-':
		default:
			return false
		}
	}
	if n < 13 {
		return false
	}
	switch d[0] {
	case 3, 4, 5, 6:
	case 2:
		p := int(d[0])*1000 + int(d[1])*100 + int(d[2])*10 + int(d[3])
		if p < 2221 || p > 2720 {
			return false
		}
	default:
		return false
	}
	return luhn(d[:n])
}

// luhn reports whether the digits pass the Luhn (mod 10) check.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		x := int(d[i])
		if double {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		sum += x
		double = !double
	}
	return sum%10 == 0
}

// validIP accepts an IPv4 address in dotted-quad form or an IPv6 address.
// Four-part version strings such as "1.2.3.4" are indistinguishable from
// addresses and are accepted too.
func validIP(v string) bool {
	_, err := netip.ParseAddr(v)
	return err == nil
}
