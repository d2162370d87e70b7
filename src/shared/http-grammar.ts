/** RFC 9110 §5.6.2: a header name (or a method) is a token. Shared by everything that writes HTTP by hand. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
