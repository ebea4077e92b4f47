package api

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
)

const readyTimeout = 2 * time.Second

type envelope struct {
	RequestID string `json:"request_id"`
	Data      any    `json:"data"`
}

type adminList struct {
	RequestID string `json:"request_id"`
	Data      any    `json:"data"`
	Limit     int    `json:"limit"`
	Offset    int    `json:"offset"`
}

type deleted struct {
	RequestID string `json:"request_id"`
}

func ok(c echo.Context, status int, data any) error {
	return c.JSON(status, envelope{RequestID: requestIDOf(c), Data: data})
}

func okDeleted(c echo.Context) error {
	return c.JSON(http.StatusOK, deleted{RequestID: requestIDOf(c)})
}

// decodeBody reads the (size-capped) body and decodes it strictly into v.
func decodeBody(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		if mbe, ok := err.(*http.MaxBytesError); ok {
			return apperr.Invalidf("request body is larger than %d bytes", mbe.Limit)
		}
		return apperr.Invalidf("could not read the request body")
	}
	return strictjson.Decode(body, v, "")
}

const (
	defaultLimit = 50
	maxLimit     = 200
)

// pageParams reads limit and offset for admin lists.
func pageParams(c echo.Context) (limit, offset int, err error) {
	limit, offset = defaultLimit, 0
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, 0, apperr.InvalidField("limit", "must be an integer from 1 to %d", maxLimit)
		}
		limit = n
	}
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			return 0, 0, apperr.InvalidField("offset", "must be an integer from 0 to 1000000")
		}
		offset = n
	}
	return limit, offset, nil
}

// cursorLimit reads limit for cursor lists.
func cursorLimit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, apperr.InvalidField("limit", "must be an integer from 1 to %d", maxLimit)
	}
	return n, nil
}
