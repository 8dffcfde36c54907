import { ApiContext } from '../core/api-context';

export type PathParams = Record<string, string>;
/** Returns the response body; throws StripeApiError for an error response. Always synchronous,
 * so a request's reads and writes of the state never interleave with another request's. */
export type RouteHandler = (ctx: ApiContext, path: PathParams) => unknown;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: RouteHandler;
}

/** Method + path template (`/v1/customers/:id`) → handler. */
export class Router {
  private readonly routes: Route[] = [];

  get(template: string, handler: RouteHandler): this {
    return this.add('GET', template, handler);
  }

  post(template: string, handler: RouteHandler): this {
    return this.add('POST', template, handler);
  }

  delete(template: string, handler: RouteHandler): this {
    return this.add('DELETE', template, handler);
  }

  match(method: string, pathname: string): { handler: RouteHandler; path: PathParams } | undefined {
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const match = route.pattern.exec(pathname);
      if (!match) continue;
      const path: PathParams = {};
      route.names.forEach((name, index) => (path[name] = decodeURIComponent(match[index + 1])));
      return { handler: route.handler, path };
    }
    return undefined;
  }

  private add(method: string, template: string, handler: RouteHandler): this {
    const names: string[] = [];
    const source = template.replace(/:(\w+)/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}/?$`), names, handler });
    return this;
  }
}
