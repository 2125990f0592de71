/** Offset pagination as the seeds define it: `skip` rows, then at most `limit`. */
export interface Page {
  readonly skip: number
  readonly limit: number
}
