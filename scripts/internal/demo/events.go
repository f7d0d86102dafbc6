package demo

import (
	"fmt"
	"time"
)

// patient is the PHI of one synthetic patient (all values invented; the phone numbers are in the
// 555-01xx range reserved for fiction, the addresses and e-mail domains are examples).
type patient struct {
	id, name, email, phone, birthday, street, city, zip, mrn, diagnosis, medication string
}

var patients = []patient{
	{"patient-1042", "Maria Gonzalez", "maria.gonzalez@example.com", "+1 415 555 0142", "1984-03-12", "22 Elm Street", "Springfield", "62704", "MRN-00981273", "Type 2 diabetes mellitus", "Metformin 500 mg"},
	{"patient-2077", "James O'Connor", "j.oconnor@example.org", "+1 312 555 0199", "1957-11-30", "8 Harbor View Road", "Portland", "04101", "MRN-00417765", "Hypertension, stage 1", "Lisinopril 10 mg"},
	{"patient-3310", "Aiko Tanaka", "aiko.tanaka@example.net", "+1 206 555 0107", "1991-07-04", "1400 Pine Avenue Apt 5", "Seattle", "98101", "MRN-01133580", "Major depressive disorder", "Sertraline 50 mg"},
}

// hashedFields are the yellow fields the walkthrough protects with the encrypt treatment.
var hashedFields = []string{
	"traits.name", "traits.email", "traits.phone", "traits.birthday",
	"traits.address.street", "traits.address.city", "traits.address.postalCode",
	"properties.mrn", "properties.diagnosis", "properties.medication",
}

// phiValues returns every PHI value of p as it appears in the events, for the "no clear PHI"
// check.
func (p patient) phiValues() []string {
	return []string{p.name, p.email, p.phone, p.birthday, p.street, p.city, p.zip, p.mrn, p.diagnosis, p.medication}
}

// identify and track return Segment-spec events for p. Fields that are not PHI (plan, clinic,
// appointment type) stay in clear, so the destination still has useful data.
func identify(p patient, msgID string, at time.Time) map[string]any {
	return map[string]any{
		"type": "identify", "messageId": msgID, "userId": p.id, "timestamp": at.Format(time.RFC3339),
		"traits": map[string]any{
			"name": p.name, "email": p.email, "phone": p.phone, "birthday": p.birthday,
			"address": map[string]any{"street": p.street, "city": p.city, "postalCode": p.zip, "country": "US"},
			"plan":    "gold",
		},
		"context": map[string]any{"library": map[string]any{"name": "analytics-node", "version": "6.2.0"}},
	}
}

func track(p patient, msgID string, at time.Time) map[string]any {
	return map[string]any{
		"type": "track", "event": "Appointment Booked", "messageId": msgID, "userId": p.id, "timestamp": at.Format(time.RFC3339),
		"properties": map[string]any{
			"mrn": p.mrn, "diagnosis": p.diagnosis, "medication": p.medication,
			"clinic": "Northgate Family Practice", "appointmentType": "follow-up",
		},
	}
}

// sentEvent is what the walkthrough sent, to compare with what was received and decrypted.
type sentEvent struct {
	messageID string
	fields    map[string]string // hashed path -> clear value
}

// batchOf builds the messages of one push: for every patient an identify and a track event, the
// identify events as single-event messages and the track events together in one
// {"batch": [...]} message, as producers may send either.
func batchOf(round string, at time.Time) (bodies []any, sent []sentEvent) {
	var tracks []any
	for i, p := range patients {
		idID := fmt.Sprintf("demo-%s-identify-%d", round, i)
		trID := fmt.Sprintf("demo-%s-track-%d", round, i)
		bodies = append(bodies, identify(p, idID, at))
		tracks = append(tracks, track(p, trID, at))
		sent = append(sent,
			sentEvent{idID, map[string]string{
				"traits.name": p.name, "traits.email": p.email, "traits.phone": p.phone, "traits.birthday": p.birthday,
				"traits.address.street": p.street, "traits.address.city": p.city, "traits.address.postalCode": p.zip,
			}},
			sentEvent{trID, map[string]string{"properties.mrn": p.mrn, "properties.diagnosis": p.diagnosis, "properties.medication": p.medication}},
		)
	}
	bodies = append(bodies, map[string]any{"batch": tracks})
	return bodies, sent
}
