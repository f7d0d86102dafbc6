package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// maxDetail bounds the detail attribute.
const maxDetail = 512

// rejected describes one message or event parked on the rejected-events queue.
type rejected struct {
	body       []byte
	why        *rejection
	messageID  string // the ingest message's SQS id
	ws, src    string // only when well formed
	eventIndex int    // -1 for the whole message
}

// sendRejected puts r on the rejected-events queue. The body is the rejected message or event
// exactly as received (it may hold PHI; the queue is encrypted with the service key, see
// docs/PRODUCERS.md). A failure is returned and makes the message a batch item failure, so it
// is never acknowledged unrecorded.
func (h *Handler) sendRejected(ctx context.Context, r rejected) error {
	attrs := map[string]sqstypes.MessageAttributeValue{
		AttrReason:          strAttrSQS(r.why.reason),
		AttrDetail:          strAttrSQS(clip(r.why.detail, maxDetail)),
		AttrSourceMessageID: strAttrSQS(r.messageID),
	}
	if r.ws != "" {
		attrs[AttrWorkspace] = strAttrSQS(r.ws)
	}
	if r.src != "" {
		attrs[AttrSource] = strAttrSQS(r.src)
	}
	if r.eventIndex >= 0 {
		attrs[AttrEventIndex] = sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(r.eventIndex))}
	}
	body := string(r.body)
	if !utf8.ValidString(body) {
		body = strings.ToValidUTF8(body, "\uFFFD")
	}
	if strings.TrimSpace(body) == "" {
		body = "(empty)" // SQS refuses an empty body
	}
	_, err := h.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(h.rejectedURL),
		MessageBody:       aws.String(body),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("send to the rejected-events queue: %w", err)
	}
	return nil
}

func strAttrSQS(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}
