package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// jsonProblem words an error of decoding a request body in the API's
// terms: the field and what it should be (every field of its request
// bodies is a string), never the Go types involved.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		got := te.Value
		if strings.HasPrefix(got, "a") || strings.HasPrefix(got, "o") {
			got = "an " + got
		} else {
			got = "a " + got
		}
		if te.Field == "" {
			return fmt.Sprintf("the body is a JSON %s, not an object", te.Value)
		}
		return fmt.Sprintf("%q must be a string, not %s", te.Field, got)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
