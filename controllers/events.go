package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
)

// notifier logs and records an Event together, so that what a person sees in
// "kubectl describe" and what the logs say never drift apart. Messages are
// built only from names, times and reasons: never from a secret, a hash or a
// key, and never from an error that might quote one.
type notifier struct {
	recorder events.EventRecorder
}

func (n notifier) normal(ctx context.Context, obj runtime.Object, reason, action, format string, args ...any) {
	n.emit(ctx, obj, corev1.EventTypeNormal, reason, action, format, args...)
}

func (n notifier) warning(ctx context.Context, obj runtime.Object, reason, action, format string, args ...any) {
	n.emit(ctx, obj, corev1.EventTypeWarning, reason, action, format, args...)
}

func (n notifier) emit(ctx context.Context, obj runtime.Object, eventType, reason, action, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ctrl.LoggerFrom(ctx).Info(msg, "reason", reason, "eventType", eventType)
	if n.recorder != nil {
		n.recorder.Eventf(obj, nil, eventType, reason, action, "%s", msg)
	}
}
