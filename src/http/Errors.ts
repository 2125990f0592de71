/**
 * The HTTP error answers, each a yieldable error whose wire form is FastAPI's `{"detail": ...}`
 * and whose status travels with its schema, so the server and the OpenAPI document agree. The
 * domain's infrastructure errors answer on every route (`Api.ts` declares them on the whole API):
 * `Unavailable` is 503 (with `Retry-After`), `DataRefused` a 422 naming what refused the data.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { DataRefused, Unavailable } from "../domain/Errors.ts"
import { ValidationErrorBody } from "../domain/ValidationDetail.ts"

const DetailBody = Schema.Struct({ detail: Schema.String })

const detailError = <Self extends { readonly detail: string }, I>(
  errorClass: Schema.Schema<Self, I> & {
    new(props: { readonly detail: string }): Self
  },
  status: number,
  description: string
) =>
  Schema.transform(DetailBody, Schema.typeSchema(errorClass), {
    strict: true,
    decode: (body) => new errorClass({ detail: body.detail }),
    encode: (error) => ({ detail: error.detail })
  }).annotations(HttpApiSchema.annotations({ status, description }))

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { detail: Schema.String }) {}
export const NotFoundResponse = detailError(NotFound, 404, "No such record")

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { detail: Schema.String }) {}
export const ConflictResponse = detailError(Conflict, 409, "The request conflicts with an existing record")

export const UnavailableResponse = Schema.transform(DetailBody, Schema.typeSchema(Unavailable), {
  strict: true,
  decode: (body) => new Unavailable({ reason: body.detail }),
  encode: (error) => ({ detail: `Service unavailable: ${error.reason}; retry later` })
}).annotations({
  identifier: "ServiceUnavailable",
  ...HttpApiSchema.annotations({
    status: 503,
    description: "A dependency (the database, an actor) is unavailable; nothing was done. Retry after `Retry-After` seconds."
  })
})

export const DataRefusedResponse = Schema.transform(ValidationErrorBody, Schema.typeSchema(DataRefused), {
  strict: true,
  decode: (body) => new DataRefused({ reason: body.detail[0]?.msg ?? "", sqlState: "22000" }),
  encode: (error) => ({
    detail: [{
      type: "value_error",
      loc: error.column !== undefined ? ["body", error.column] : ["body"],
      msg: `Value error, the database refused the data: ${error.reason}`
    }]
  })
}).annotations(HttpApiSchema.annotations({ status: 422, description: "The database refused the data" }))
