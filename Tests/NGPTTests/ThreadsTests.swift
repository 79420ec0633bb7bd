import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

final class ThreadsTests: XCTestCase {
    private var saved = 1
    override func setUp() { saved = Threads.count }
    override func tearDown() { Threads.set(saved) }

    func testSetChangesBLASThreadCount() {
        Threads.set(2)
        XCTAssertEqual(Threads.count, 2)
        XCTAssertEqual(Threads.blasDescription.threads, 2)
        Threads.set(1)
        XCTAssertEqual(Threads.count, 1)
        XCTAssertEqual(Threads.blasDescription.threads, 1)
    }

    func testParallelForVisitsEveryIndexOnceWithSingleThreadedBLAS() {
        for threads in [1, 2, 3] {
            Threads.set(threads)
            for n in [0, 1, 2, 3, 7, 32, 33] {
                // Each index is written by the one worker that runs it, so plain stores suffice.
                var visits = [Int](repeating: 0, count: n)
                var blasThreads = [Int](repeating: -1, count: n)
                visits.withUnsafeMutableBufferPointer { v in
                    blasThreads.withUnsafeMutableBufferPointer { b in
                        Threads.parallelFor(n) { i in
                            v[i] += 1
                            b[i] = BLAS.numThreads
                        }
                    }
                }
                XCTAssertEqual(visits, [Int](repeating: 1, count: n), "\(threads) threads, n = \(n)")
                // BLAS is single-threaded inside a region, or the workers' GEMMs would each start
                // BLAS threads and oversubscribe the cores; the library's GEMMs split large
                // products between threads themselves, so this holds with one worker too.
                XCTAssertEqual(blasThreads, [Int](repeating: 1, count: n), "\(threads) threads, n = \(n)")
                XCTAssertEqual(Threads.blasDescription.threads, threads, "BLAS threads not restored, n = \(n)")
            }
        }
    }

    func testParallelForOnOneThreadIsAnOrderedLoop() {
        Threads.set(1)
        var order = [Int]()
        Threads.parallelFor(5) { order.append($0) }
        XCTAssertEqual(order, [0, 1, 2, 3, 4])
    }
}
