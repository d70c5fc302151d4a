// The REST API of the platform (same origin as the page), with the bearer token kept in
// localStorage. Every error answer has the shape {"error": {"code", "message"}}.

const TOKEN_KEY = "cep.token";
const USER_KEY = "cep.user";

export interface User {
  id: number;
  username: string;
  email?: string | null;
  created_at: string;
}

export interface Session {
  id: string;
  name: string;
  language: string | null;
  owner_username: string;
  role: "owner" | "editor" | "viewer";
  desired_state: string;
  observed_state: string | null;
  created_at: string;
  updated_at: string;
}

export interface Item {
  path: string;
  kind: "file" | "folder";
  size: number;
  version: number;
  sha256: string | null;
  updated_at: string;
}

export interface FileContent {
  path: string;
  version: number;
  size: number;
  encoding: "utf-8" | "base64";
  content: string;
}

export interface Written {
  path: string;
  version: number;
  size: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the server says the token is no longer valid (401). */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export function token(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function currentUser(): User | null {
  const raw = localStorage.getItem(USER_KEY);
  return raw ? (JSON.parse(raw) as User) : null;
}

export function forget(): void {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/** A request to the API; `body` objects are sent as JSON. Resolves to the raw response. */
export async function request(
  method: string,
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let body: BodyInit | undefined;
  if (init.body instanceof FormData || init.body instanceof Blob) {
    body = init.body;
  } else if (init.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(init.body);
  }
  const resp = await fetch(path, { method, headers, body });
  if (!resp.ok) {
    let code = "http_" + resp.status;
    let message = resp.statusText || `HTTP ${resp.status}`;
    try {
      const err = (await resp.json()) as { error?: { code?: string; message?: string } };
      code = err.error?.code ?? code;
      message = err.error?.message ?? message;
    } catch {
      // not JSON: keep the status text
    }
    if (resp.status === 401 && t) onUnauthorized();
    throw new ApiError(resp.status, code, message);
  }
  return resp;
}

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const resp = await request(method, path, { body });
  return (await resp.json()) as T;
}

export async function register(username: string, password: string, email?: string): Promise<User> {
  return json("POST", "/api/users/register", { username, password, ...(email ? { email } : {}) });
}

export async function login(username: string, password: string): Promise<User> {
  const answer = await json<{ access_token: string; user: User }>("POST", "/api/users/login", {
    username,
    password,
  });
  localStorage.setItem(TOKEN_KEY, answer.access_token);
  localStorage.setItem(USER_KEY, JSON.stringify(answer.user));
  return answer.user;
}

export async function logout(): Promise<void> {
  try {
    await request("POST", "/api/users/logout");
  } finally {
    forget();
  }
}

export async function me(): Promise<User> {
  return json("GET", "/api/users/me");
}

export async function listSessions(): Promise<Session[]> {
  const page = await json<{ sessions: Session[] }>("GET", "/api/sessions/?limit=200");
  return page.sessions;
}

export async function getSession(id: string): Promise<Session> {
  return json("GET", `/api/sessions/${id}`);
}

export async function createSession(name: string, language: string): Promise<Session> {
  const body: Record<string, string> = {};
  if (name) body.name = name;
  if (language) body.language = language;
  const answer = await json<{ session: Session }>("POST", "/api/sessions/", body);
  return answer.session;
}

const ws = (id: string) => `/api/workspace/${encodeURIComponent(id)}`;
const filePath = (id: string, path: string) =>
  `${ws(id)}/file/${path.split("/").map(encodeURIComponent).join("/")}`;

export async function listFiles(id: string): Promise<Item[]> {
  return json("GET", `${ws(id)}/files`);
}

export async function readFile(id: string, path: string): Promise<FileContent> {
  return json("GET", filePath(id, path));
}

/** Writes `content`; with `version`, only if the file is still at it (else 412). */
export async function writeFile(
  id: string,
  path: string,
  content: string,
  version: number | null,
): Promise<Written> {
  const headers: Record<string, string> = {};
  if (version !== null) headers["If-Match"] = `"${version}"`;
  const resp = await request("PUT", filePath(id, path), { body: { content }, headers });
  return (await resp.json()) as Written;
}

/** Uploads files; each part's file name is its path in the workspace. */
export async function upload(id: string, files: { path: string; file: Blob }[]): Promise<void> {
  const form = new FormData();
  for (const { path, file } of files) form.append("file", file, path);
  await request("POST", `${ws(id)}/upload`, { body: form });
}

export async function downloadZip(id: string): Promise<Blob> {
  const resp = await request("GET", `${ws(id)}/zip`);
  return resp.blob();
}

/** The sandbox and workspace state: at least {observed_state, desired_state}. */
export async function status(id: string): Promise<{ observed_state?: string | null; desired_state?: string }> {
  return json("GET", `${ws(id)}/status`);
}

export async function ensureDefault(id: string): Promise<void> {
  await request("POST", `${ws(id)}/ensure-default`);
}
